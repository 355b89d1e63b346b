import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Bus } from '@krbfleet/bus'
import { buckets, KrbfleetError } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { startNatsWorld, type NatsWorld } from '@krbfleet/testing/world'
import type { KV } from '@krbfleet/bus'
import {
  AccountBusyError,
  emptyOwnership,
  leaseKey,
  leasesFromKv,
  type OwnershipStore,
  ownershipFromKv,
} from '../src/index.ts'

describe('ownership records in JetStream KV', { timeout: 60_000 }, () => {
  let world: NatsWorld
  let bus: Bus
  let store: OwnershipStore
  let kv: KV
  before(async () => {
    world = await startNatsWorld({ name: 'ownership-test' })
    bus = world.bus
    kv = await bus.kv(buckets.spnOwnership)
    store = ownershipFromKv(kv, bus.jsm)
  })
  after(async () => {
    await world?.stop()
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

  const isBusy = (err: unknown) => err instanceof AccountBusyError && err.retryable

  it('an account lease is held by one replica at a time; released, the next replica takes it', async () => {
    const one = leasesFromKv(kv, { logger: silentLogger(), holder: 'replica-1' })
    const two = leasesFromKv(kv, { logger: silentLogger(), holder: 'replica-2' })
    const lease = await one.acquire('CORP\\KL1')
    assert.ok(lease.held())
    await assert.rejects(two.acquire('CORP\\KL1'), isBusy)
    // Another account is independent.
    const other = await two.acquire('CORP\\KL2')
    await lease.release()
    assert.equal(lease.held(), false)
    assert.throws(() => lease.assertHeld(), /expired or was taken over/)
    const taken = await two.acquire('CORP\\KL1')
    assert.deepEqual((await kv.get(leaseKey('CORP\\KL1')))?.json<{ holder: string }>().holder, 'replica-2')
    // A late release of the first holder cannot delete the second holder's lease.
    await lease.release()
    assert.equal((await kv.get(leaseKey('CORP\\KL1')))?.operation, 'PUT')
    await taken.release()
    await other.release()
    // Lease keys are not accounts.
    assert.ok(!(await store.accounts()).some((a) => a.includes('KL')))
  })

  it('a lease whose holder died is taken over only after expiresAt + margin; the old holder then knows it lost it', async () => {
    let clock = 1_000_000
    const timing = { ttlMs: 1_000, renewMs: 60_000, marginMs: 500 }
    const dead = leasesFromKv(kv, { logger: silentLogger(), holder: 'dead', timing, now: () => clock })
    const alive = leasesFromKv(kv, { logger: silentLogger(), holder: 'alive', timing, now: () => clock })
    const stale = await dead.acquire('CORP\\KL3')
    clock += 1_400 // past expiresAt, within the margin
    assert.equal(stale.held(), false, 'the holder stops trusting it at expiresAt')
    await assert.rejects(alive.acquire('CORP\\KL3'), isBusy)
    clock += 200 // past expiresAt + margin
    const lease = await alive.acquire('CORP\\KL3')
    assert.ok(lease.held())
    await stale.release() // a compare-and-set on the dead holder's revision: changes nothing
    assert.equal((await kv.get(leaseKey('CORP\\KL3')))?.json<{ holder: string }>().holder, 'alive')
    await lease.release()
  })

  it("a forget-release of a lease that expired (no failed renewal seen) leaves the new holder's lease", async () => {
    let clock = 3_000_000
    // No renewal runs: as during a NATS outage, the old holder never sees a failed compare-and-set.
    const timing = { ttlMs: 1_000, renewMs: 600_000, marginMs: 500 }
    const old = leasesFromKv(kv, { logger: silentLogger(), holder: 'old', timing, now: () => clock })
    const next = leasesFromKv(kv, { logger: silentLogger(), holder: 'next', timing, now: () => clock })
    const stale = await old.acquire('CORP\\KL5')
    clock += 2_000
    const taken = await next.acquire('CORP\\KL5')
    await stale.release({ forget: true })
    const entry = await kv.get(leaseKey('CORP\\KL5'))
    assert.equal(entry?.operation, 'PUT')
    assert.equal(entry?.json<{ holder: string }>().holder, 'next')
    assert.ok(taken.held())
    // Held, the new holder's forget purges the key and its history.
    await taken.release({ forget: true })
    const gone = await kv.get(leaseKey('CORP\\KL5'))
    assert.ok(gone === null || gone.operation === 'PURGE', 'the lease key is purged')
    const history = await kv.history({ key: leaseKey('CORP\\KL5') })
    let versions = 0
    for await (const _ of history) versions++
    assert.equal(versions, 1, 'only the purge marker is left')
  })

  it('a forget-release of an expired lease nobody took deletes it at its own revision only', async () => {
    let clock = 4_000_000
    const timing = { ttlMs: 1_000, renewMs: 600_000, marginMs: 500 }
    const old = leasesFromKv(kv, { logger: silentLogger(), holder: 'old', timing, now: () => clock })
    const stale = await old.acquire('CORP\\KL6')
    clock += 2_000
    assert.equal(stale.held(), false)
    await stale.release({ forget: true })
    assert.equal((await kv.get(leaseKey('CORP\\KL6')))?.operation, 'DEL')
  })

  it('a renewal that finds the lease taken over marks it lost', async () => {
    let clock = 2_000_000
    const timing = { ttlMs: 1_000, renewMs: 50, marginMs: 0 }
    const slow = leasesFromKv(kv, { logger: silentLogger(), holder: 'slow', timing, now: () => clock })
    const lease = await slow.acquire('CORP\\KL4')
    // Another replica takes it over by compare-and-set (as after an expiry it observed).
    const entry = await kv.get(leaseKey('CORP\\KL4'))
    await kv.update(
      leaseKey('CORP\\KL4'),
      JSON.stringify({ holder: 'fast', expiresAt: clock + 10_000 }),
      entry!.revision,
    )
    clock += 10
    const deadline = Date.now() + 10_000
    while (lease.held() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(lease.held(), false)
    await lease.release()
    assert.equal((await kv.get(leaseKey('CORP\\KL4')))?.json<{ holder: string }>().holder, 'fast')
  })

  it('remove drops a record: it is no longer read nor listed, and it can be created again', async () => {
    await store.write('CORP\\KGONE', { ...emptyOwnership('CORP\\KGONE'), spns: ['HTTP/gone'] }, null)
    assert.ok((await store.accounts()).includes('CORP\\KGONE'))
    await store.remove('CORP\\KGONE')
    assert.equal(await store.read('CORP\\KGONE'), null)
    assert.ok(!(await store.accounts()).includes('CORP\\KGONE'))
    await store.write('CORP\\KGONE', emptyOwnership('CORP\\KGONE'), null)
    assert.ok((await store.accounts()).includes('CORP\\KGONE'))
  })
})
