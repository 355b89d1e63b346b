import { codec } from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'
import { SpnSet } from './spn.ts'

/**
 * The ownership record of one account (KV `buckets.spnOwnership`, key `accountKey(account)`): the
 * SPNs krbfleet wrote and may therefore remove, and the intent of a write in progress.
 *
 * The intent (`pending`) is recorded BEFORE the LDAP modify and cleared after it, so that a crash
 * between the two leaves enough to converge: the next reconcile treats `pending.add` as managed
 * (whatever of it reached AD is krbfleet's) and reports the interrupted change with the intent's id,
 * which JetStream de-duplicates if the first run did publish (STYLE rule 5).
 */

const Spn = Type.String({ minLength: 1, maxLength: 512 })

export const SpnConflictRecord = Type.Object(
  { spn: Spn, holder: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
)
export type SpnConflictRecord = Static<typeof SpnConflictRecord>

export const PendingWrite = Type.Object(
  {
    /** Becomes the id of the SpnsReconciled event of this write. */
    id: Type.String({ minLength: 1, maxLength: 64 }),
    add: Type.Array(Spn),
    remove: Type.Array(Spn),
    revision: Type.Integer({ minimum: 0 }),
    startedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
)
export type PendingWrite = Static<typeof PendingWrite>

export const OwnershipRecord = Type.Object(
  {
    account: Type.String({ minLength: 3, maxLength: 32 }),
    /** SPNs krbfleet wrote and confirmed on the account. */
    spns: Type.Array(Spn),
    pending: Type.Union([PendingWrite, Type.Null()]),
    /** Desired SPNs held by another object, already reported by SpnConflictDetected. */
    conflicts: Type.Array(SpnConflictRecord),
    /** The topology revision of the last reconcile. */
    revision: Type.Integer({ minimum: 0 }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
)
export type OwnershipRecord = Static<typeof OwnershipRecord>
export const ownershipRecordCodec = codec(OwnershipRecord, 'SPN ownership record')

export function emptyOwnership(account: string): OwnershipRecord {
  return {
    account,
    spns: [],
    pending: null,
    conflicts: [],
    revision: 0,
    updatedAt: new Date(0).toISOString(),
  }
}

/** Everything krbfleet may own on the account: confirmed SPNs plus those of an interrupted write. */
export function managedSpns(record: OwnershipRecord): SpnSet {
  return new SpnSet(record.spns).union(record.pending?.add ?? [])
}

/** What an interrupted write did, judged from the values now in AD. */
export function outcomeOfPending(
  pending: PendingWrite,
  actual: Iterable<string>,
): { added: string[]; removed: string[] } {
  const present = new SpnSet(actual)
  return {
    added: new SpnSet(pending.add).intersect(present).sorted(),
    removed: new SpnSet(pending.remove).minus(present).sorted(),
  }
}

/**
 * What krbfleet owns when it takes over a pending write: the confirmed SPNs still in AD, plus the
 * pending additions that are still desired, whether or not AD shows them yet. The writer that
 * recorded the intent may still be alive with its modify in flight (another replica): its additions
 * must not turn into foreign SPNs nobody removes later. A desired SPN that never reached AD is
 * written by the next diff anyway, so claiming it early costs nothing.
 */
export function ownedAfterPending(
  record: OwnershipRecord,
  actual: Iterable<string>,
  desired: Iterable<string>,
): string[] {
  const pendingAdd = new SpnSet(record.pending?.add ?? [])
  return managedSpns(record).intersect(actual).union(pendingAdd.intersect(desired)).sorted()
}

/** The SPNs krbfleet owns once AD holds `actualAfter`: what it managed or wrote that is still there. */
export function ownedAfter(managed: Iterable<string>, actualAfter: Iterable<string>): string[] {
  return new SpnSet(managed).intersect(actualAfter).sorted()
}

/** Conflicts in `current` that `previous` did not hold (to report once, not on every resync). */
export function newConflicts(
  previous: SpnConflictRecord[],
  current: SpnConflictRecord[],
): SpnConflictRecord[] {
  const seen = new Set(previous.map(conflictKey))
  return current.filter((c) => !seen.has(conflictKey(c)))
}

function conflictKey(c: SpnConflictRecord): string {
  return `${c.spn.toLowerCase()}\u0000${c.holder.toLowerCase()}`
}
