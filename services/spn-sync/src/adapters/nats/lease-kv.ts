import { randomUUID } from 'node:crypto'
import { accountKey, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { type KV, toBusError } from '@krbfleet/bus'
import type { Logger } from '@krbfleet/logging'
import { type AccountLease, DEFAULT_LEASE_TIMING, type LeaseTiming, leaseStatus } from '../../domain/index.ts'
import { AccountBusyError } from '../../errors.ts'
import type { AccountLeases, HeldLease } from '../../ports.ts'
import { isCasFailure } from './kv-cas.ts'

/**
 * Prefix of the lease keys in `buckets.spnOwnership` (`lease.CORP.KERBAUTH`). Account keys are
 * upper case (`CORP.KERBAUTH`), so the lower-case prefix never collides with one. The leases live
 * in the ownership bucket because spn-sync already has write access there and nowhere else
 * (deploy/nats permissions).
 */
export const LEASE_KEY_PREFIX = 'lease.'
export const leaseKey = (account: string) => `${LEASE_KEY_PREFIX}${accountKey(account)}`

export interface LeasesFromKvOptions {
  logger: Logger
  /** This replica's id; random per process by default. */
  holder?: string
  timing?: Partial<LeaseTiming>
  /** Injectable clock for tests (epoch ms). */
  now?: () => number
}

/**
 * Account leases in JetStream KV (see domain/lease.ts). Every step is a compare-and-set on the
 * key's revision: taking a free or expired lease, renewing it, and releasing it (a delete or
 * purge that only applies while the revision is still the one we wrote).
 */
export function leasesFromKv(kv: KV, options: LeasesFromKvOptions): AccountLeases & { holder: string } {
  const holder = options.holder ?? randomUUID()
  const timing: LeaseTiming = { ...DEFAULT_LEASE_TIMING, ...options.timing }
  const now = options.now ?? Date.now
  const logger = options.logger.child({ component: 'account-lease', holder })

  const value = (expiresAt: number) => JSON.stringify({ holder, expiresAt } satisfies AccountLease)

  async function acquire(account: string): Promise<HeldLease> {
    const key = leaseKey(account)
    let revision: number
    let expiresAt = now() + timing.ttlMs
    try {
      const entry = await kv.get(key)
      const live = entry !== null && entry.operation === 'PUT' && entry.length > 0
      let stored: unknown = null
      if (live) {
        try {
          stored = entry.json()
        } catch {
          stored = undefined
        }
      }
      const status = live ? leaseStatus(stored ?? undefined, holder, now(), timing) : 'free'
      if (status === 'held') {
        const other = stored as AccountLease
        throw new AccountBusyError(account, other.holder, other.expiresAt)
      }
      expiresAt = now() + timing.ttlMs
      revision =
        entry === null
          ? await kv.create(key, value(expiresAt))
          : await kv.update(key, value(expiresAt), entry.revision)
    } catch (err) {
      if (err instanceof AccountBusyError) throw err
      // Another replica took it between our read and our write.
      if (isCasFailure(err)) throw new AccountBusyError(account, null, null, err)
      throw toBusError(err, `taking the SPN reconcile lease of ${account}`)
    }

    let lost = false
    let released = false
    // One KV operation on the key at a time: a renewal and the release never race each other.
    let chain: Promise<unknown> = Promise.resolve()
    const serial = (step: () => Promise<void>) => {
      const next = chain.then(step, step)
      chain = next.catch(() => {})
      return next
    }
    const renew = () =>
      serial(async () => {
        if (lost || released) return
        const next = now() + timing.ttlMs
        try {
          revision = await kv.update(key, value(next), revision)
          expiresAt = next
        } catch (err) {
          if (isCasFailure(err)) {
            lost = true
            logger.warn({ account }, 'SPN reconcile lease taken over by another replica; stopping work')
          } else {
            // NATS unreachable for a moment: keep trying; held() turns false when expiresAt passes.
            logger.warn({ account, err }, 'could not renew the SPN reconcile lease')
          }
        }
      })
    const timer = setInterval(() => void renew(), timing.renewMs)
    timer.unref?.()

    const lease: HeldLease = {
      account,
      held: () => !lost && !released && now() < expiresAt,
      assertHeld() {
        if (lease.held()) return
        throw new KrbfleetError(
          ErrorCode.Conflict,
          `the SPN reconcile lease of ${account} expired or was taken over; the reconcile stops before writing`,
          { retryable: true },
        )
      },
      release: (releaseOptions = {}) => {
        clearInterval(timer)
        return serial(async () => {
          if (released) return
          // Judged before `released` turns it false: is the lease still ours right now?
          const stillHeld = lease.held()
          released = true
          if (lost) return
          // Only our own revision is deleted or purged: every give-up is a compare-and-set on the
          // revision we wrote (Nats-Expected-Last-Subject-Sequence, ADR-8), so a lease someone else
          // has taken since stays theirs. `lost` alone does not tell: it is only set when a renewal's
          // compare-and-set fails, and a lease that expired during a NATS outage may have been taken
          // over without us seeing a failed renewal yet.
          // A removed account's key is purged (history and all) only while we still hold it, so a
          // later replica never finds a lease of an account that is gone; once our lease expired,
          // the key may already be someone else's, and a revision-checked delete is all we try.
          const giveUp =
            releaseOptions.forget && stillHeld
              ? kv.purge(key, { previousSeq: revision })
              : kv.delete(key, { previousSeq: revision })
          await giveUp.catch((err: unknown) => {
            if (!isCasFailure(err)) logger.warn({ account, err }, 'could not release the SPN reconcile lease')
          })
        })
      },
    }
    return lease
  }

  return { holder, acquire }
}
