import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Bus, connectBus, type KV } from '@krbfleet/bus'
import {
  emptyTopology,
  KrbfleetError,
  TerminalError,
  type TopologyDocument,
  type TopologyRevision,
  ValidationError,
} from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import type { NatsServer } from '@krbfleet/testing'
import { plainPool } from '@krbfleet/testing/topology'
import { startNatsWorld, type NatsWorld } from '@krbfleet/testing/world'
import { type DraftChange, StaleRevision, TopologyStore } from '../src/index.ts'

const writer = { actor: 'user:alice', correlationId: 'corr-1' }
const withSite = (name: string) => ({ ...emptyTopology(), sites: [{ name }] })
const snapshot = (revision: number, site: string): TopologyRevision => ({
  revision,
  enabledAt: '2024-05-01T10:00:00.000Z',
  enabledBy: 'user:bob',
  topology: withSite(site),
})
const pointer = (revision: number, draft: number) => ({
  revision,
  enabledAt: '2024-05-01T10:00:00.000Z',
  enabledBy: 'user:bob',
  draft,
})
async function changes(store: TopologyStore, after: number): Promise<DraftChange[]> {
  const out: DraftChange[] = []
  for await (const change of store.changesAfter(after)) out.push(change)
  return out
}

describe('topology store against a real nats-server', () => {
  let world: NatsWorld
  let nats: NatsServer
  let bus: Bus
  let kv: KV
  let store: TopologyStore
  before(async () => {
    world = await startNatsWorld({ name: 'topology-store-test' })
    ;({ nats, bus } = world)
    kv = await bus.kv(TopologyStore.bucket)
    store = new TopologyStore(kv)
  })
  after(async () => {
    await world?.stop()
  })

  test('given an empty bucket, then the draft is empty and nothing is enabled', async () => {
    assert.deepEqual(await store.readDraft(), { topology: emptyTopology(), revision: 0 })
    assert.deepEqual(await store.readEnabledNumber(), { enabled: 0, revision: 0 })
    assert.equal(await store.readEnabled(), null)
    assert.equal(await store.readRevision(1), null)
    assert.deepEqual(await store.readPublished(), { draft: 0, enabled: 0, exists: false })
    assert.deepEqual(await changes(store, 0), [])
  })

  test('when two writers update the same draft version, then the second gets StaleRevision', async () => {
    const first = await store.updateDraft(withSite('Redmond'), 0, writer)
    await assert.rejects(store.updateDraft(withSite('Dublin'), 0, writer), StaleRevision)
    const second = await store.updateDraft(withSite('Oslo'), first, { actor: 'user:carol' })
    await assert.rejects(store.updateDraft(withSite('Dublin'), first, writer), StaleRevision)
    assert.deepEqual([first, second], [1, 2])
    assert.deepEqual(await store.readDraft(), { topology: withSite('Oslo'), revision: second })
    // Another process folds the same draft from the stored changes.
    assert.deepEqual(await new TopologyStore(kv).readDraft(), { topology: withSite('Oslo'), revision: 2 })
    assert.deepEqual(
      (await changes(new TopologyStore(kv), 0)).map((c) => [
        c.revision,
        c.before.sites.map((x) => x.name),
        c.after.sites.map((x) => x.name),
        c.writer,
      ]),
      [
        [first, [], ['Redmond'], writer],
        [second, ['Redmond'], ['Oslo'], { actor: 'user:carol' }],
      ],
    )
    // What is stored is the change alone, not the document.
    const stored = JSON.parse(new TextDecoder().decode((await kv.get('log.2'))!.value))
    assert.deepEqual(stored, {
      writer: { actor: 'user:carol' },
      delta: { sites: { put: [{ name: 'Oslo' }], del: ['Redmond'] } },
    })
  })

  test('when a revision is enabled, then readers see its snapshot, even after the draft moves on', async () => {
    await store.createRevision(pointer(1, 1))
    await store.updateEnabledNumber(1, 0)
    assert.deepEqual(await store.readEnabled(), snapshot(1, 'Redmond'))
    await assert.rejects(store.createRevision(pointer(1, 2)), StaleRevision)
    const enabled = await store.readEnabledNumber()
    assert.equal(enabled.enabled, 1)
    await store.createRevision(pointer(2, 2))
    await store.updateEnabledNumber(2, enabled.revision)
    await assert.rejects(store.updateEnabledNumber(3, enabled.revision), StaleRevision)
    await store.updateDraft(withSite('Dublin'), 2, writer)
    assert.deepEqual(await store.readEnabled(), snapshot(2, 'Oslo'))
    assert.deepEqual(await new TopologyStore(kv).readRevision(1), snapshot(1, 'Redmond'))
    assert.deepEqual((await store.readDraft()).topology, withSite('Dublin'))
  })

  test('given an enabled number whose snapshot is missing, then readEnabled is unavailable (retry)', async () => {
    const enabled = await store.readEnabledNumber()
    await store.updateEnabledNumber(9, enabled.revision)
    await assert.rejects(store.readEnabled(), (err: unknown) => {
      assert.ok(err instanceof KrbfleetError)
      assert.equal(err.code, 'unavailable')
      assert.equal(err.retryable, true)
      assert.match(err.message, /revision 9 is enabled but its snapshot/)
      return true
    })
    await store.updateEnabledNumber(2, (await store.readEnabledNumber()).revision)
  })

  test('given damaged values, then reads fail permanently, naming what is wrong', async () => {
    await kv.put('enabled', '0')
    await assert.rejects(store.readEnabled(), (err: unknown) => {
      assert.ok(err instanceof ValidationError)
      assert.equal(err.retryable, false)
      assert.match(err.message, /stored enabled revision number/)
      return true
    })
    await kv.put('revision.5', 'not json')
    await assert.rejects(store.readRevision(5), (err: unknown) => err instanceof TerminalError)
    await kv.put('revision.6', JSON.stringify({ revision: 6 }))
    await assert.rejects(store.readRevision(6), (err: unknown) => err instanceof ValidationError)
    await kv.put('enabled', '2')
    assert.deepEqual(await store.readEnabled(), snapshot(2, 'Oslo'))
    await kv.put('revision.7', JSON.stringify({ ...pointer(7, 40) }))
    await assert.rejects(new TopologyStore(kv).readRevision(7), /topology change 4 is not in the store/)
    const damaged = await bus.kv({ ...TopologyStore.bucket, bucket: 'topology-store-damaged' })
    await damaged.put('log.1', JSON.stringify({ writer, delta: { servers: { put: [{ fqdn: 'x' }] } } }))
    await assert.rejects(new TopologyStore(damaged).readDraft(), (err: unknown) => {
      assert.ok(err instanceof ValidationError)
      assert.match(err.message, /stored topology change/)
      return true
    })
  })

  test('a change of thousands of servers is stored in parts; one enrolment after it is one small record', async () => {
    const big = await bus.kv({ ...TopologyStore.bucket, bucket: 'topology-store-big' })
    const writerStore = new TopologyStore(big)
    const pool = 'pool01.corp.example.com'
    const fleet: TopologyDocument = {
      ...emptyTopology(),
      sites: [{ name: 'paris' }],
      pools: [plainPool(pool, 'paris')],
      servers: Array.from({ length: 20_000 }, (_, i) => ({
        fqdn: `web${String(i).padStart(5, '0')}.corp.example.com`,
        pool,
        backend: 'keytab' as const,
      })),
    }
    assert.equal(await writerStore.updateDraft(fleet, 0, writer), 1)
    const record = JSON.parse(new TextDecoder().decode((await big.get('log.1'))!.value))
    assert.ok(record.parts.count >= 4, `${record.parts.count} parts`)
    assert.deepEqual(await new TopologyStore(big).readDraft(), { topology: fleet, revision: 1 })
    const agent = {
      server: 'web00042.corp.example.com',
      encryptionKey: 'k'.repeat(43),
      enrolledAt: '2026-12-07T10:00:00.000Z',
    }
    assert.equal(await writerStore.updateDraft({ ...fleet, agents: [agent] }, 1, writer), 2)
    assert.ok((await big.get('log.2'))!.length < 512)
    assert.deepEqual((await new TopologyStore(big).readDraft()).topology.agents, [agent])
  })

  test('a snapshot every few hundred changes: a cold reader starts from it, and a newer one replaces it', async () => {
    const bucket = await bus.kv({ ...TopologyStore.bucket, bucket: 'topology-store-snapshot' })
    const writerStore = new TopologyStore(bucket)
    const withSites = (n: number) => ({
      ...emptyTopology(),
      sites: Array.from({ length: n }, (_, i) => ({ name: `s${String(i).padStart(3, '0')}` })),
    })
    for (let n = 1; n <= 300; n++) await writerStore.updateDraft(withSites(n), n - 1, writer)
    assert.equal(await writerStore.snapshot(100), false, 'none before 256 changes')
    assert.equal(await writerStore.snapshot(300), true)
    assert.equal(await writerStore.snapshot(310), false, 'the last one is only 10 changes old')
    // The changes up to the snapshot are gone: a cold reader can only have started from it.
    for (let n = 1; n <= 300; n++) await bucket.purge(`log.${n}`)
    await writerStore.updateDraft(withSites(301), 300, writer)
    assert.deepEqual(await new TopologyStore(bucket).readDraft(), { topology: withSites(301), revision: 301 })
    // A newer snapshot replaces it and purges its parts.
    for (let n = 302; n <= 560; n++) await writerStore.updateDraft(withSites(n), n - 1, writer)
    const before = await bucket.keys('snapshot-part.300.>')
    const oldParts: string[] = []
    for await (const key of before) oldParts.push(key)
    assert.equal(oldParts.length, 1)
    assert.equal(await writerStore.snapshot(560), true)
    assert.equal((await bucket.get(oldParts[0]!))?.operation, 'PURGE', 'the replaced snapshot is purged')
    for (let n = 301; n <= 560; n++) await bucket.purge(`log.${n}`)
    assert.deepEqual((await new TopologyStore(bucket).readDraft()).topology, withSites(560))
  })

  test('given the single-document layout, then its draft and revisions are read and the log carries on', async () => {
    const old = await bus.kv({ ...TopologyStore.bucket, bucket: 'topology-store-legacy' })
    await old.put('draft', JSON.stringify(withSite('Lyon')))
    const draft = await old.put('draft', JSON.stringify({ topology: withSite('Paris'), writer }))
    await old.put('revision.1', JSON.stringify(snapshot(1, 'Lyon')))
    const legacy = new TopologyStore(old)
    assert.deepEqual(await legacy.readDraft(), { topology: withSite('Paris'), revision: draft })
    assert.deepEqual(await legacy.readRevision(1), snapshot(1, 'Lyon'))
    assert.equal(await legacy.updateDraft(withSite('Nice'), draft, writer), draft + 1)
    assert.deepEqual(await new TopologyStore(old).readDraft(), {
      topology: withSite('Nice'),
      revision: draft + 1,
    })
  })

  test('a write that fails says why, with the cause', async () => {
    const tiny = await bus.kv({
      ...TopologyStore.bucket,
      bucket: 'topology-store-tiny',
      limits: { ...TopologyStore.bucket.limits, maxMessageBytes: 64 },
    })
    await assert.rejects(
      new TopologyStore(tiny).updateDraft(withSite('a'.repeat(60)), 0, writer),
      (err: unknown) => {
        assert.ok(err instanceof KrbfleetError)
        assert.equal(err.code, 'unavailable')
        assert.match(err.message, /could not write the topology log\.1 \(\d+ bytes\): .*maximum/i)
        assert.ok(err.cause)
        return true
      },
    )
  })

  test('the publication mark only moves forward', async () => {
    await store.markPublished({ draft: 4 })
    await store.markPublished({ enabled: 2 })
    await store.markPublished({ draft: 3, enabled: 1 })
    assert.deepEqual(await store.readPublished(), { draft: 4, enabled: 2, exists: true })
  })

  test('given a closed connection, then a read is a KrbfleetError, not a raw NATS error', async () => {
    const other = await connectBus({
      servers: nats.url,
      name: 'topology-store-test-2',
      logger: silentLogger(),
    })
    const closed = new TopologyStore(await other.kv(TopologyStore.bucket))
    await other.close()
    await assert.rejects(closed.readEnabled(), (err: unknown) => {
      assert.ok(err instanceof KrbfleetError)
      assert.match(err.message, /topology bucket read/)
      return true
    })
  })
})
