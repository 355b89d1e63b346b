import { AccountDriftRepaired, type EventEnvelope } from '@krbfleet/contracts'
import type { DirectoryAccount } from './account.ts'
import { type AccountRecord, accountEventId } from './record.ts'

/**
 * Drift: an attribute krbfleet keeps on a managed account, changed outside krbfleet. Today that is
 * msDS-SupportedEncryptionTypes: the record holds the types the account was created or adopted
 * with, and a hand edit (ADUC, PowerShell) that drops AES makes the KDC issue tickets the pool's
 * keys cannot decrypt. Like spn-sync with SPNs, the sweep restores the record's value and says so
 * in an event. Pure: the caller passes AD's object and the time.
 */

export const DRIFT_ACTOR = 'service:account'

export interface DriftRepair {
  /** Where AD is written (AD's DN: the object may have been moved since the record was written). */
  dn: string
  changes: Record<string, string>
  /** The record after the repair: the event it owes joins the outbox. */
  record: AccountRecord
  event: EventEnvelope
}

/**
 * What to restore on `ad`, or null when nothing is to be done: no drift, no AD object (the removal
 * and test paths report that), or a record in the middle of a write or a removal (the sweep settles
 * those first; an unconfirmed record is not a baseline).
 */
export function decideDriftRepair(
  record: AccountRecord,
  ad: DirectoryAccount | null,
  at: Date,
): DriftRepair | null {
  if (!ad || record.removing || record.pending || !record.secret) return null
  if (ad.encryptionTypes === record.encryptionTypes) return null
  const occurredAt = at.toISOString()
  const event = AccountDriftRepaired.create(
    {
      account: record.account,
      attribute: 'msDS-SupportedEncryptionTypes',
      found: ad.encryptionTypes,
      restored: record.encryptionTypes,
    },
    {
      actor: DRIFT_ACTOR,
      occurredAt,
      // One repair per state of the record: built again after a crash, the same id.
      id: accountEventId(record.account, record.createdAt, 'drift-repaired', ad.kvno, record.updatedAt),
    },
  )
  return {
    dn: ad.dn,
    changes: { 'msDS-SupportedEncryptionTypes': String(record.encryptionTypes) },
    record: { ...record, updatedAt: occurredAt, outbox: [...(record.outbox ?? []), event] },
    event,
  }
}
