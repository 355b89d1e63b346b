import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Bus, connectBus } from '@krbfleet/bus'
import { buckets, KrbfleetError } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { type NatsServer, startNats } from '@krbfleet/testing'
import { emptyOwnership, type OwnershipStore, ownershipFromKv } from '../src/index.ts'

describe('ownership records in JetStream KV', { timeout: 60_000 }, () => {
  let nats: NatsServer
  let bus: Bus
  let store: OwnershipStore
  before(async () => {
    nats = await startNats()
    bus = await connectBus({ servers: nats.url, name: 'ownership-test', logger: silentLogger() })
    store = ownershipFromKv(await bus.kv(buckets.spnOwnership), bus.jsm)
  })
  after(async () => {
    await bus?.close()
    await nats?.stop()
  })

  const isRetryableConflict = (err: unknown) =>
    err instanceof KrbfleetError && err.code === 'conflict' && err.retryable

  it('writes are compare-and-set: a stale version or a second create is a retryable conflict', async () => {
    assert.deepEqual(await store.accounts(), [])
    const record = { ...emptyOwnership('CORP\\KA'), spns: ['HTTP/a'] }
    const v1 = await store.write('CORP\\KA', record, null)
    await assert.rejects(store.write('CORP\\KA', record, null), isRetryableConflict)
    const v2 = await store.write('CORP\\KA', { ...record, spns: ['HTTP/b'] }, v1)
    await assert.rejects(store.write('CORP\\KA', record, v1), isRetryableConflict)
    const read = await store.read('CORP\\KA')
    assert.deepEqual(read, { record: { ...record, spns: ['HTTP/b'] }, version: v2 })
    await store.write('CORP\\KB', emptyOwnership('CORP\\KB'), null)
    assert.deepEqual(await store.accounts(), ['CORP\\KA', 'CORP\\KB'])
  })

  it('a record that does not match the schema is refused before it is written', async () => {
    const bad = { ...emptyOwnership('CORP\\KC'), spns: [''] }
    await assert.rejects(store.write('CORP\\KC', bad, null), /spns/)
    assert.equal(await store.read('CORP\\KC'), null)
  })
})
