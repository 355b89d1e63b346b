import { createHash } from 'node:crypto'
import type { AccountRecord } from '../domain/record.ts'

/**
 * Scheduled rotation: a password is rotated before it is older than the policy's maximum age
 * (`maxPasswordAgeDays`, 30 by default). Each account is due a little before the limit, by a
 * fraction fixed by its name (up to 10 % of the age, at most 6 h): accounts set at the same moment
 * (a first enable) do not all rotate at once, and the time stays the same across restarts. Pure.
 */
export function nextRotationAt(account: string, setAt: string, maxAgeDays: number): Date {
  const maxAgeMs = maxAgeDays * 86_400_000
  const spreadMs = Math.min(maxAgeMs * 0.1, 6 * 3_600_000)
  const fraction = createHash('sha256').update(account.toUpperCase()).digest().readUInt32BE(0) / 2 ** 32
  return new Date(Date.parse(setAt) + maxAgeMs - Math.floor(spreadMs * fraction))
}

/** When the record's account is next rotated by the schedule; null when it has no settled secret. */
export function scheduledRotationOf(record: AccountRecord, maxAgeDays: number): Date | null {
  if (!record.secret || record.removing) return null
  return nextRotationAt(record.account, record.secret.setAt, maxAgeDays)
}

/** The accounts whose scheduled rotation is due at `now` (none pending, none removing). */
export function dueForRotation(records: readonly AccountRecord[], now: Date, maxAgeDays: number): string[] {
  return records
    .filter((r) => r.pending === null)
    .filter((r) => {
      const at = scheduledRotationOf(r, maxAgeDays)
      return at !== null && at.getTime() <= now.getTime()
    })
    .map((r) => r.account)
    .sort()
}
