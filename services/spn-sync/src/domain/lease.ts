import { codec } from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'

/**
 * The reconcile lease of one account: while a replica holds it, no other replica reconciles that
 * account (ARCHITECTURE.md, "single-writer steps use KV compare-and-set"). It lives in KV next to
 * the ownership record and is taken with `create` / `update(key, value, revision)`.
 *
 * Expiry is a timestamp in the value, not a per-key TTL: nats-server 2.9 silently ignores per-key
 * TTL (lab/NOTES.md). The holder renews it while it works; another replica may take it only once
 * `expiresAt + marginMs` has passed, the margin absorbing clock skew between hosts and a renewal
 * that is late by a little. The holder itself stops trusting it at `expiresAt` (no margin), so
 * the two views never overlap as long as clocks disagree by less than the margin.
 */
export const AccountLease = Type.Object(
  {
    /** Random id of the replica (process) holding the lease. */
    holder: Type.String({ minLength: 1, maxLength: 128 }),
    /** Epoch milliseconds after which the holder no longer counts on it. */
    expiresAt: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type AccountLease = Static<typeof AccountLease>
export const accountLeaseCodec = codec(AccountLease, 'SPN reconcile lease')

export interface LeaseTiming {
  /** How long a lease lasts from its last renewal (ms). */
  ttlMs: number
  /** How often the holder renews it (ms); well below ttlMs. */
  renewMs: number
  /** Extra time another replica waits past expiresAt before taking it over (ms). */
  marginMs: number
}

/** Defaults: a reconcile takes milliseconds; a crashed holder blocks its account for about 7 s. */
export const DEFAULT_LEASE_TIMING: LeaseTiming = { ttlMs: 6_000, renewMs: 2_000, marginMs: 1_000 }

/**
 * What the lease stored at a key means to replica `me` at `now`:
 * `free` (none, or expired past the margin: take it), `mine` (held by this replica), `held` (live,
 * another replica's: defer). A value that does not decode is treated as free, so a damaged entry
 * cannot block an account forever; the take-over is still a compare-and-set.
 */
export function leaseStatus(
  stored: unknown,
  me: string,
  now: number,
  timing: Pick<LeaseTiming, 'marginMs'>,
): 'free' | 'mine' | 'held' {
  if (stored === null || stored === undefined) return 'free'
  let lease: AccountLease
  try {
    lease = accountLeaseCodec.decode(stored)
  } catch {
    return 'free'
  }
  if (lease.holder === me) return 'mine'
  return now > lease.expiresAt + timing.marginMs ? 'free' : 'held'
}
