import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DEFAULT_LEASE_TIMING, leaseStatus } from '../src/index.ts'

const timing = { marginMs: 1_000 }

describe('account lease status (pure)', () => {
  it('given no lease or a damaged one, then it is free', () => {
    assert.equal(leaseStatus(null, 'a', 0, timing), 'free')
    assert.equal(leaseStatus(undefined, 'a', 0, timing), 'free')
    assert.equal(leaseStatus({ holder: 'b' }, 'a', 0, timing), 'free')
    assert.equal(leaseStatus('junk', 'a', 0, timing), 'free')
  })

  it('given our own lease, then it is mine whatever its expiry', () => {
    assert.equal(leaseStatus({ holder: 'a', expiresAt: 0 }, 'a', 10_000, timing), 'mine')
  })

  it("given another replica's lease, then it is held until expiresAt + margin, free after", () => {
    const lease = { holder: 'b', expiresAt: 5_000 }
    assert.equal(leaseStatus(lease, 'a', 4_000, timing), 'held')
    assert.equal(leaseStatus(lease, 'a', 5_500, timing), 'held', 'past expiresAt but within the margin')
    assert.equal(leaseStatus(lease, 'a', 6_000, timing), 'held')
    assert.equal(leaseStatus(lease, 'a', 6_001, timing), 'free')
  })

  it('property: a lease the holder still trusts (now < expiresAt) is never free to another replica', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        (expiresAt, before, skew, margin) => {
          // The other replica's clock runs up to `skew` ahead; within the margin the views never overlap.
          fc.pre(skew <= margin)
          const holderNow = expiresAt - 1 - before
          const otherNow = holderNow + skew
          return leaseStatus({ holder: 'b', expiresAt }, 'a', otherNow, { marginMs: margin }) === 'held'
        },
      ),
    )
  })

  it('the default renews well within the lease and keeps a margin', () => {
    assert.ok(DEFAULT_LEASE_TIMING.renewMs * 2 < DEFAULT_LEASE_TIMING.ttlMs)
    assert.ok(DEFAULT_LEASE_TIMING.marginMs > 0)
  })
})
