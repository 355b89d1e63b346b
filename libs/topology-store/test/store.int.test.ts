import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Bus, connectBus, type KV } from '@krbfleet/bus'
import {
  emptyTopology,
  KrbfleetError,
  TerminalError,
  type TopologyRevision,
  ValidationError,
} from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import type { NatsServer } from '@krbfleet/testing'
import { startNatsWorld, type NatsWorld } from '@krbfleet/testing/world'
import { StaleRevision, TopologyStore } from '../src/index.ts'

const writer = { actor: 'user:alice', correlationId: 'corr-1' }
const withSite = (name: string) => ({ ...emptyTopology(), sites: [{ name }] })
const snapshot = (revision: number, site: string): TopologyRevision => ({
  revision,
  enabledAt: '2024-05-01T10:00:00.000Z',
  enabledBy: 'user:bob',
  topology: withSite(site),
})

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
    assert.deepEqual(await store.draftHistory(), { versions: [], complete: true })
  })

  test('when two writers update the same draft version, then the second gets StaleRevision', async () => {
    const first = await store.updateDraft(withSite('Redmond'), 0, writer)
    await assert.rejects(store.updateDraft(withSite('Dublin'), 0, writer), StaleRevision)
    const second = await store.updateDraft(withSite('Oslo'), first, { actor: 'user:carol' })
    await assert.rejects(store.updateDraft(withSite('Dublin'), first, writer), StaleRevision)
    assert.deepEqual(await store.readDraft(), { topology: withSite('Oslo'), revision: second })
    const { versions, complete } = await store.draftHistory()
    assert.equal(complete, true)
    assert.deepEqual(
      versions.map((v) => [v.revision, v.topology?.sites[0]?.name, v.writer]),
      [
        [first, 'Redmond', writer],
        [second, 'Oslo', { actor: 'user:carol' }],
      ],
    )
  })

  test('when a revision is enabled, then readers see its snapshot; a snapshot is created once', async () => {
    await store.createRevision(snapshot(1, 'Redmond'))
    await store.updateEnabledNumber(1, 0)
    assert.deepEqual(await store.readEnabled(), snapshot(1, 'Redmond'))
    await assert.rejects(store.createRevision(snapshot(1, 'Dublin')), StaleRevision)
    const pointer = await store.readEnabledNumber()
    assert.equal(pointer.enabled, 1)
    await store.createRevision(snapshot(2, 'Dublin'))
    await store.updateEnabledNumber(2, pointer.revision)
    await assert.rejects(store.updateEnabledNumber(3, pointer.revision), StaleRevision)
    assert.deepEqual(await store.readEnabled(), snapshot(2, 'Dublin'))
    assert.deepEqual(await store.readRevision(1), snapshot(1, 'Redmond'))
  })

  test('given an enabled number whose snapshot is missing, then readEnabled is unavailable (retry)', async () => {
    const pointer = await store.readEnabledNumber()
    await store.updateEnabledNumber(9, pointer.revision)
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
    assert.deepEqual(await store.readEnabled(), snapshot(2, 'Dublin'))
  })

  test('given a bare TopologyDocument as the draft, then it is read as a version without its writer', async () => {
    const { revision } = await store.readDraft()
    const bare = await kv.update('draft', JSON.stringify(withSite('Paris')), revision)
    assert.deepEqual(await store.readDraft(), { topology: withSite('Paris'), revision: bare })
    const last = (await store.draftHistory()).versions.at(-1)
    assert.deepEqual([last?.revision, last?.writer], [bare, undefined])
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
