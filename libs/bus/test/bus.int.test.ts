import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { buckets, KrbfleetError, SiteAdded, streams } from '@krbfleet/contracts'
import { type NatsServer, startNats } from '@krbfleet/testing'
import { type Bus, connectBus } from '../src/index.ts'
import { captureLogs } from './helpers.ts'

describe('connectBus against a real nats-server', () => {
  let nats: NatsServer
  let bus: Bus
  before(async () => {
    nats = await startNats()
    bus = await connectBus({ servers: nats.url, name: 'bus-test', logger: captureLogs().logger })
  })
  after(async () => {
    await bus?.close()
    await nats?.stop()
  })

  test('ensureStreams creates the events stream and is idempotent', async () => {
    await bus.ensureStreams()
    await bus.ensureStreams()
    const info = await bus.jsm.streams.info(streams.events.name)
    assert.deepEqual(info.config.subjects, [...streams.events.subjects])
    assert.equal(info.config.storage, 'file')
    assert.equal(info.config.duplicate_window, streams.events.duplicateWindowMs * 1_000_000)
    assert.equal(info.config.max_age, streams.events.maxAgeMs * 1_000_000)
  })

  test('ensureStreams repairs a stream whose settings drifted', async () => {
    await bus.ensureStreams()
    const info = await bus.jsm.streams.info(streams.events.name)
    await bus.jsm.streams.update(streams.events.name, {
      ...info.config,
      max_age: 3_600_000_000_000,
      description: 'changed by hand',
    })
    await bus.ensureStreams()
    const repaired = await bus.jsm.streams.info(streams.events.name)
    assert.equal(repaired.config.max_age, streams.events.maxAgeMs * 1_000_000)
    assert.equal(repaired.config.description, streams.events.description)
  })

  test('every stream and bucket has size limits; a bucket whose limits drifted is repaired', async () => {
    await bus.ensureStreams()
    const events = (await bus.jsm.streams.info(streams.events.name)).config
    assert.equal(events.max_bytes, streams.events.limits.maxBytes)
    assert.equal(events.max_msgs, streams.events.limits.maxMessages)
    assert.equal(events.max_msg_size, streams.events.limits.maxMessageBytes)
    assert.equal(events.discard, 'old')
    await bus.kv(buckets.accounts)
    const name = `KV_${buckets.accounts.bucket}`
    const info = (await bus.jsm.streams.info(name)).config
    assert.equal(info.max_bytes, buckets.accounts.limits.maxBytes)
    await bus.jsm.streams.update(name, { ...info, max_bytes: -1, max_msgs: -1 })
    const other = await connectBus({ servers: nats.url, name: 'bus-test-2', logger: captureLogs().logger })
    try {
      await other.kv(buckets.accounts)
    } finally {
      await other.close()
    }
    const repaired = (await bus.jsm.streams.info(name)).config
    assert.equal(repaired.max_bytes, buckets.accounts.limits.maxBytes)
    assert.equal(repaired.max_msgs, buckets.accounts.limits.maxMessages)
    assert.equal(repaired.max_msg_size, buckets.accounts.limits.maxMessageBytes)
  })

  test('a flood of events keeps the events stream within its limits, and the newest event still publishes', async () => {
    const flood = await startNats()
    const limited = await connectBus({
      servers: flood.url,
      name: 'bus-flood',
      logger: captureLogs().logger,
      streamLimits: { [streams.events.name]: { maxMessages: 1000, maxBytes: 1024 * 1024 } },
    })
    try {
      await limited.ensureStreams()
      for (let i = 0; i < 3000; i += 250) {
        await Promise.all(
          Array.from({ length: 250 }, (_, j) =>
            limited.publish(SiteAdded.create({ site: `flood${i + j}` }, { actor: 'user:flood' })),
          ),
        )
      }
      const last = SiteAdded.create({ site: 'after-the-flood' }, { actor: 'user:test' })
      const stored = await limited.publish(last)
      const state = (await limited.jsm.streams.info(streams.events.name)).state
      assert.ok(state.messages <= 1000, `${state.messages} messages kept, limit 1000`)
      assert.ok(state.bytes <= 1024 * 1024, `${state.bytes} bytes kept, limit 1 MiB`)
      assert.equal(state.last_seq, stored.seq, 'the newest event is stored last')
      assert.equal(state.last_seq, 3001, 'every event of the flood was accepted (the oldest discarded)')
      const message = await limited.jsm.streams.getMessage(streams.events.name, { seq: stored.seq })
      assert.deepEqual(message?.json(), last)
    } finally {
      await limited.close()
      await flood.stop()
    }
  })

  test('a duplicate publish is stored once', async () => {
    await bus.ensureStreams()
    const before = (await bus.jsm.streams.info(streams.events.name)).state.messages
    const event = SiteAdded.create({ site: 'dedupe' }, { actor: 'user:test' })
    const first = await bus.publish(event)
    const second = await bus.publish(event)
    assert.equal(first.duplicate, false)
    assert.equal(second.duplicate, true)
    assert.equal(second.seq, first.seq)
    const afterwards = (await bus.jsm.streams.info(streams.events.name)).state.messages
    assert.equal(afterwards, before + 1)
    const stored = await bus.jsm.streams.getMessage(streams.events.name, { seq: first.seq })
    assert.equal(stored?.subject, SiteAdded.subject)
    assert.deepEqual(stored?.json(), event)
  })

  test('publish refuses an unknown type or an invalid envelope and stores nothing', async () => {
    await bus.ensureStreams()
    const before = (await bus.jsm.streams.info(streams.events.name)).state.messages
    const event = SiteAdded.create({ site: 'x' }, { actor: 'user:test' })
    await assert.rejects(bus.publish({ ...event, type: 'krbfleet.nope.Nothing.v1' }), {
      code: 'invalid',
      message: /not a known event type/,
    })
    await assert.rejects(bus.publish({ ...event, data: { site: '' } }), {
      code: 'invalid',
      message: /data\.site/,
    })
    assert.equal((await bus.jsm.streams.info(streams.events.name)).state.messages, before)
  })

  test('kv opens or creates a bucket idempotently', async () => {
    const kv = await bus.kv(buckets.topology)
    await kv.put('draft', '{}')
    const again = await bus.kv(buckets.topology)
    assert.equal((await again.get('draft'))?.string(), '{}')
    const status = await kv.status()
    assert.equal(status.history, buckets.topology.history)
    // A second connection (another replica) opens the existing bucket without error.
    const other = await connectBus({ servers: nats.url, name: 'bus-test-2', logger: captureLogs().logger })
    try {
      const kv2 = await other.kv(buckets.topology)
      assert.equal((await kv2.get('draft'))?.string(), '{}')
    } finally {
      await other.close()
    }
  })

  test('isConnected reflects the connection and close drains it', async () => {
    const other = await connectBus({ servers: nats.url, name: 'bus-test-3', logger: captureLogs().logger })
    assert.equal(other.isConnected(), true)
    await other.close()
    assert.equal(other.isConnected(), false)
    assert.equal(other.nc.isClosed(), true)
  })

  test('connecting to a server that is not there fails as unavailable, naming the server', async () => {
    await assert.rejects(
      connectBus({ servers: 'nats://127.0.0.1:1', name: 'nobody', logger: captureLogs().logger }),
      { code: 'unavailable', message: /nats:\/\/127\.0\.0\.1:1/ },
    )
    await assert.rejects(
      connectBus({ servers: 'nats://svc:hunter2@127.0.0.1:1', name: 'nobody', logger: captureLogs().logger }),
      (err: Error) => err.message.includes('nats://***@127.0.0.1:1') && !err.message.includes('hunter2'),
    )
  })
})

describe('close while the server is gone', () => {
  test('close() ends without the server instead of waiting for a drain', async () => {
    const nats = await startNats()
    const logs = captureLogs()
    const bus = await connectBus({
      servers: nats.url,
      name: 'orphan',
      logger: logs.logger,
      reconnectTimeWaitMs: 50,
      drainTimeoutMs: 200,
    })
    try {
      await nats.kill()
      await logs.waitFor((r) => r.msg === 'disconnected from NATS')
      assert.equal(bus.isConnected(), false)
      await bus.close()
      assert.equal(bus.nc.isClosed(), true)
    } finally {
      await nats.stop()
    }
  })
})

describe('publish while the server is away', () => {
  test('fails as unavailable (retryable) when the server stays away, and nothing is stored twice later', async () => {
    const nats = await startNats()
    const logs = captureLogs()
    const bus = await connectBus({
      servers: nats.url,
      name: 'away',
      logger: logs.logger,
      reconnectTimeWaitMs: 50,
      publishAttempts: 2,
      publishTimeoutMs: 200,
    })
    try {
      await bus.ensureStreams()
      const event = SiteAdded.create({ site: 'away' }, { actor: 'user:t' })
      await nats.kill()
      await logs.waitFor((r) => r.msg === 'disconnected from NATS')
      await assert.rejects(bus.publish(event), (err: unknown) => {
        assert.ok(err instanceof KrbfleetError)
        assert.ok(err.code === 'unavailable' || err.code === 'timeout', err.code)
        assert.equal(err.retryable, true)
        return true
      })
      assert.ok(logs.records().some((r) => r.msg === 'publish failed, retrying'))
      await nats.start()
      // The caller retries later with the same envelope: stored once even if an attempt got through.
      await logs.waitFor((r) => r.msg === 'reconnected to NATS')
      const retry = await bus.publish(event)
      const info = await bus.jsm.streams.info(streams.events.name)
      assert.equal(info.state.messages, 1)
      assert.equal(retry.seq, 1)
    } finally {
      await bus.close()
      await nats.stop()
    }
  })
})
