import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { after, before, beforeEach, describe, test } from 'node:test'
import {
  type EventEnvelope,
  KrbfleetError,
  ErrorCode,
  ServerAddedToSite,
  SiteAdded,
  SiteRemoved,
  streams,
  TerminalError,
} from '@krbfleet/contracts'
import { type NatsServer, startNats } from '@krbfleet/testing'
import { AckPolicy } from '@nats-io/jetstream'
import { type Bus, connectBus, consumeEvents, type EventContext } from '../src/index.ts'
import { effectBucket, recordEffect } from './fixtures/effect.ts'
import { captureLogs, signal } from './helpers.ts'

const node = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url))
const hangFixture = fileURLToPath(new URL('./fixtures/consume-then-hang.ts', import.meta.url))

describe('consumeEvents against a real nats-server', () => {
  let nats: NatsServer
  let bus: Bus
  let n = 0
  let durable = ''
  before(async () => {
    nats = await startNats()
    bus = await connectBus({
      servers: nats.url,
      name: 'consume-test',
      logger: captureLogs().logger,
      reconnectTimeWaitMs: 100,
      reconnectJitterMs: 50,
    })
    await bus.ensureStreams()
  })
  beforeEach(async () => {
    durable = `test-${++n}`
    // Every test starts from an empty stream; durables of earlier tests are left as they are.
    await bus.jsm.streams.purge(streams.events.name)
  })
  after(async () => {
    await bus?.close()
    await nats?.stop()
  })

  test('handles the events it knows, acks others, and resumes from the durable position', async () => {
    const logs = captureLogs()
    const seen: string[] = []
    const got = signal()
    const site = `s${n}`
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: streams.events.subjects[0],
      events: [SiteAdded],
      logger: logs.logger,
      async handle(event) {
        if (event.data.site.startsWith(site)) seen.push(event.data.site)
        if (event.data.site === `${site}-2`) got.resolve()
      },
    })
    await bus.publish(SiteAdded.create({ site: `${site}-1` }, { actor: 'user:t' }))
    await bus.publish(SiteRemoved.create({ site: `${site}-1` }, { actor: 'user:t' }))
    await bus.publish(SiteAdded.create({ site: `${site}-2` }, { actor: 'user:t' }))
    await got.promise
    await consumer.stop()
    assert.deepEqual(seen, [`${site}-1`, `${site}-2`])
    const info = await bus.jsm.consumers.info(streams.events.name, durable)
    assert.equal(info.num_ack_pending, 0)
    assert.equal(info.num_pending, 0)

    // A new consumer with the same durable starts after what was acked.
    const later = signal()
    const seenLater: string[] = []
    const again = consumeEvents(bus, {
      durable,
      filterSubject: streams.events.subjects[0],
      events: [SiteAdded],
      logger: logs.logger,
      async handle(event) {
        if (event.data.site.startsWith(site)) seenLater.push(event.data.site)
        if (event.data.site === `${site}-3`) later.resolve()
      },
    })
    await bus.publish(SiteAdded.create({ site: `${site}-3` }, { actor: 'user:t' }))
    await later.promise
    await again.stop()
    assert.deepEqual(seenLater, [`${site}-3`])
  })

  test('with acks not confirmed, every event is handled once and acked all the same', async () => {
    const seen: string[] = []
    const got = signal()
    const site = `s${n}`
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: streams.events.subjects[0],
      events: [SiteAdded],
      logger: captureLogs().logger,
      confirmAcks: false,
      async handle(event) {
        seen.push(event.data.site)
        if (seen.length === 50) got.resolve()
      },
    })
    for (let i = 0; i < 50; i++)
      await bus.publish(SiteAdded.create({ site: `${site}-${i}` }, { actor: 'user:t' }))
    await got.promise
    // The last ack was sent without waiting: give it the time of a round trip.
    for (let i = 0; i < 100; i++) {
      const info = await bus.jsm.consumers.info(streams.events.name, durable)
      if (info.num_ack_pending === 0 && info.num_pending === 0) break
      await new Promise((r) => setTimeout(r, 20))
    }
    await consumer.stop()
    const info = await bus.jsm.consumers.info(streams.events.name, durable)
    assert.equal(info.num_ack_pending, 0, 'every event acked')
    assert.equal(info.num_redelivered, 0)
    assert.deepEqual(
      seen,
      Array.from({ length: 50 }, (_, i) => `${site}-${i}`),
    )
  })

  test('a malformed message is terminated and logged, and the loop keeps going', async () => {
    const logs = captureLogs()
    const handled: string[] = []
    const good = signal()
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: SiteAdded.subject,
      events: [SiteAdded],
      logger: logs.logger,
      async handle(event) {
        handled.push(event.data.site)
        good.resolve()
      },
    })
    // Bypass bus.publish (which validates): what a buggy or hostile publisher could store.
    await bus.js.publish(SiteAdded.subject, 'this is not json')
    const invalid = { ...SiteAdded.create({ site: 'x' }, { actor: 'user:t' }), data: { site: 42 } }
    await bus.js.publish(SiteAdded.subject, JSON.stringify(invalid))
    await bus.js.publish(SiteAdded.subject, JSON.stringify({ hello: 'world' }))
    await bus.publish(SiteAdded.create({ site: 'after-the-bad-ones' }, { actor: 'user:t' }))
    await good.promise
    await consumer.stop()
    assert.deepEqual(handled, ['after-the-bad-ones'])
    const terminated = logs.records().filter((r) => r.msg === 'event terminated')
    assert.equal(terminated.length, 3)
    assert.match(String(terminated[0]?.reason), /not JSON/)
    assert.match(String(terminated[1]?.reason), /data\.site/)
    assert.equal(terminated[1]?.eventId, invalid.id)
    assert.match(String(terminated[2]?.reason), /is required/)
    const info = await bus.jsm.consumers.info(streams.events.name, durable)
    assert.equal(info.num_ack_pending, 0)
    assert.equal(info.num_redelivered, 0)
  })

  test('errors decide the ack: retryable -> nak and retry, permanent -> term', async () => {
    const logs = captureLogs()
    const deliveries = new Map<string, EventContext[]>()
    const finished = signal()
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: SiteAdded.subject,
      events: [SiteAdded],
      logger: logs.logger,
      retryBackoff: { initialMs: 10, maxMs: 20 },
      async handle(event, ctx) {
        const list = deliveries.get(event.data.site) ?? []
        list.push(ctx)
        deliveries.set(event.data.site, list)
        if (event.data.site === 'flaky' && ctx.deliveryCount < 3) {
          throw new KrbfleetError(ErrorCode.Unavailable, 'directory unavailable')
        }
        if (event.data.site === 'doomed') throw new TerminalError('account was deleted')
        if (event.data.site === 'refused') throw new KrbfleetError(ErrorCode.RuleViolation, 'not allowed')
        if (event.data.site === 'flaky') finished.resolve()
      },
    })
    for (const site of ['flaky', 'doomed', 'refused']) {
      await bus.publish(SiteAdded.create({ site }, { actor: 'user:t' }))
    }
    // 'flaky' succeeds on its third delivery; its short retries may overtake the later publishes,
    // so wait for every event to be settled (both terminations logged, flaky handled) before stopping.
    const terminated = (message: string) =>
      logs.waitFor(
        (r) =>
          r.msg === 'event handling failed permanently; terminated' &&
          (r.err as { message?: string } | undefined)?.message === message,
      )
    await Promise.all([finished.promise, terminated('account was deleted'), terminated('not allowed')])
    await consumer.stop()
    assert.deepEqual(
      deliveries.get('flaky')?.map((c) => [c.deliveryCount, c.redelivered]),
      [
        [1, false],
        [2, true],
        [3, true],
      ],
    )
    assert.equal(deliveries.get('doomed')?.length, 1)
    assert.equal(deliveries.get('refused')?.length, 1)
    const permanent = logs.records().filter((r) => r.msg === 'event handling failed permanently; terminated')
    assert.equal(permanent.length, 2)
    const info = await bus.jsm.consumers.info(streams.events.name, durable)
    assert.equal(info.num_ack_pending, 0)
    assert.equal(info.num_pending, 0)
  })

  test('a retryable failure is given up and terminated after maxDeliver', async () => {
    const logs = captureLogs()
    let calls = 0
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: SiteAdded.subject,
      events: [SiteAdded],
      logger: logs.logger,
      maxDeliver: 3,
      retryBackoff: { initialMs: 5, maxMs: 10 },
      async handle(event) {
        if (event.data.site !== 'always-failing') return
        calls++
        throw new Error('boom')
      },
    })
    await bus.publish(SiteAdded.create({ site: 'always-failing' }, { actor: 'user:t' }))
    const gaveUp = await logs.waitFor((r) => r.msg === 'event handling kept failing; gave up and terminated')
    await consumer.stop()
    assert.equal(calls, 3)
    assert.equal(gaveUp.deliveryCount, 3)
  })

  test('a consumer killed before its ack gets the event again and the effect happens exactly once', async () => {
    const kv = await bus.kv(effectBucket)
    const child = spawn(node, [hangFixture, nats.url, durable], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = once(child, 'exit')
    try {
      const event = ServerAddedToSite.create(
        {
          server: 'web1.corp.example.com',
          pool: 'pool01.corp.example.com',
          site: 'paris',
          backend: 'keytab',
        },
        { actor: 'user:t' },
      )
      // Wait for the child's consumer to exist so it, not us, gets the first delivery.
      const ready = (async () => {
        for (;;) {
          const found = await bus.jsm.consumers.info(streams.events.name, durable).catch(() => undefined)
          if (found) return
          await new Promise((r) => setTimeout(r, 20))
        }
      })()
      await ready
      await bus.publish(event)
      let output = ''
      for await (const chunk of child.stdout) {
        output += String(chunk)
        if (output.includes(`effect ${event.id}`)) break
      }
      child.kill('SIGKILL')
      await exited

      const redelivered = signal<EventContext>()
      let storedHere: boolean | undefined
      const consumer = consumeEvents(bus, {
        durable,
        filterSubject: ServerAddedToSite.subject,
        events: [ServerAddedToSite],
        ackWaitMs: 1000,
        logger: captureLogs().logger,
        async handle(e: EventEnvelope, ctx) {
          if (e.id !== event.id) return
          storedHere = await recordEffect(kv, e.id, 'parent')
          redelivered.resolve(ctx)
        },
      })
      const ctx = await redelivered.promise
      await consumer.stop()
      assert.equal(ctx.redelivered, true)
      // 2 normally; a starved child can miss its 1 s ack wait and be redelivered to before the kill,
      // which makes this 3. Effect-once is proven by the KV history below, not by this count.
      assert.ok(ctx.deliveryCount >= 2, `deliveryCount ${ctx.deliveryCount}`)
      assert.equal(storedHere, false, 'the redelivery found the effect already done')
      const effect = await kv.get(`effect.${event.id}`)
      assert.equal(effect?.string(), 'child')
      assert.equal(
        effect?.revision !== undefined && (await kv.history({ key: `effect.${event.id}` })) !== null,
        true,
      )
      let copies = 0
      for await (const _ of await kv.history({ key: `effect.${event.id}` })) copies++
      assert.equal(copies, 1)
      const info = await bus.jsm.consumers.info(streams.events.name, durable)
      assert.equal(info.num_ack_pending, 0)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })

  test('an existing durable with other settings is updated to the wanted ones', async () => {
    await bus.jsm.consumers.add(streams.events.name, {
      durable_name: durable,
      filter_subject: SiteRemoved.subject,
      ack_policy: AckPolicy.Explicit,
      ack_wait: 5_000_000_000,
      max_deliver: 2,
    })
    const got = signal()
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: SiteAdded.subject,
      events: [SiteAdded],
      logger: captureLogs().logger,
      async handle() {
        got.resolve()
      },
    })
    await bus.publish(SiteAdded.create({ site: 'updated' }, { actor: 'user:t' }))
    await got.promise
    await consumer.stop()
    const info = await bus.jsm.consumers.info(streams.events.name, durable)
    assert.equal(info.config.filter_subject, SiteAdded.subject)
    assert.equal(info.config.max_deliver, 20)
    assert.equal(info.config.ack_wait, 30_000_000_000)
  })

  test('a consumer deleted under a running loop is re-created and the loop goes on', async () => {
    const logs = captureLogs()
    const first = signal()
    const second = signal()
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: SiteAdded.subject,
      events: [SiteAdded],
      logger: logs.logger,
      async handle(event) {
        if (event.data.site === 'before-delete') first.resolve()
        if (event.data.site === 'after-delete') second.resolve()
      },
    })
    await bus.publish(SiteAdded.create({ site: 'before-delete' }, { actor: 'user:t' }))
    await first.promise
    await bus.jsm.consumers.delete(streams.events.name, durable)
    await logs.waitFor(
      (r) =>
        r.msg === 'created durable consumer' &&
        logs.records().filter((x) => x.msg === 'created durable consumer').length >= 2,
    )
    await bus.publish(SiteAdded.create({ site: 'after-delete' }, { actor: 'user:t' }))
    await second.promise
    await consumer.stop()
  })

  test('stop() lets the event in hand finish and ack before it resolves', async () => {
    const inHandler = signal()
    const release = signal()
    let finished = false
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: SiteAdded.subject,
      events: [SiteAdded],
      logger: captureLogs().logger,
      async handle() {
        inHandler.resolve()
        await release.promise
        finished = true
      },
    })
    await bus.publish(SiteAdded.create({ site: 'in-hand' }, { actor: 'user:t' }))
    await inHandler.promise
    const stopping = consumer.stop()
    release.resolve()
    await stopping
    assert.equal(finished, true)
    const info = await bus.jsm.consumers.info(streams.events.name, durable)
    assert.equal(info.num_ack_pending, 0)
    assert.equal(info.ack_floor.stream_seq, info.delivered.stream_seq)
  })

  test('replicas sharing a durable split the events: each is handled once', async () => {
    const handledBy = new Map<string, string[]>()
    const all = signal()
    const total = 40
    const replica = (name: string) =>
      consumeEvents(bus, {
        durable,
        filterSubject: SiteAdded.subject,
        events: [SiteAdded],
        logger: captureLogs().logger,
        prefetch: 4,
        async handle(event) {
          const by = handledBy.get(event.id) ?? []
          by.push(name)
          handledBy.set(event.id, by)
          await new Promise((r) => setImmediate(r))
          if (handledBy.size === total) all.resolve()
        },
      })
    const replicas = [replica('a'), replica('b')]
    for (let i = 0; i < total; i++)
      await bus.publish(SiteAdded.create({ site: `r${i}` }, { actor: 'user:t' }))
    await all.promise
    await Promise.all(replicas.map((r) => r.stop()))
    assert.equal(handledBy.size, total)
    assert.ok([...handledBy.values()].every((by) => by.length === 1))
  })

  test('the consumer resumes across a nats-server restart', async () => {
    const logs = captureLogs()
    const sites: string[] = []
    const first = signal()
    const second = signal()
    const consumer = consumeEvents(bus, {
      durable,
      filterSubject: SiteAdded.subject,
      events: [SiteAdded],
      logger: logs.logger,
      async handle(event) {
        sites.push(event.data.site)
        if (event.data.site === 'before-restart') first.resolve()
        if (event.data.site === 'after-restart') second.resolve()
      },
    })
    await bus.publish(SiteAdded.create({ site: 'before-restart' }, { actor: 'user:t' }))
    await first.promise
    await nats.restart()
    // publish retries until the client has reconnected and JetStream answers again.
    await bus.publish(SiteAdded.create({ site: 'after-restart' }, { actor: 'user:t' }))
    await second.promise
    await consumer.stop()
    assert.deepEqual(sites.slice(-2), ['before-restart', 'after-restart'])
    assert.equal(sites.filter((s) => s === 'after-restart').length, 1)
  })
})
