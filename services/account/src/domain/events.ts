import {
  type EventEnvelope,
  KerberosAccountCreated,
  KerberosAccountRemoved,
  PasswordReset,
  PasswordRotated,
} from '@krbfleet/contracts'
import { type AccountRecord, accountEventId, type PendingOperation } from './record.ts'

/**
 * The events the account service owes, as envelopes with ids derived from the record
 * ({@link accountEventId}): built again after a crash, an event gets the same id, so JetStream
 * drops the repeat. Pure: the caller passes the time.
 */

/** Who asked for a command: the actor (audit) and the caller's correlation id, if any. */
export interface CallContext {
  actor: string
  correlationId?: string | undefined
}

/** Envelope metadata of the caller (an absent correlation id lets the envelope use its own id). */
export function callerMeta(caller: CallContext): { actor: string; correlationId?: string } {
  return { actor: caller.actor, ...(caller.correlationId ? { correlationId: caller.correlationId } : {}) }
}

/** The event a confirmed secret owes, with an id derived from the record and the kvno. */
export function announcement(
  record: AccountRecord,
  operation: PendingOperation,
  kvno: number,
  caller: CallContext,
  at: Date,
): EventEnvelope {
  const meta = { ...callerMeta(caller), occurredAt: at.toISOString() }
  if (operation === 'rotate') {
    // A rotation's correlation id is its rotation id (rotation/saga.ts).
    const rotationId = caller.correlationId ?? record.pending?.correlationId ?? 'unknown'
    return PasswordRotated.create(
      { rotationId, account: record.account, kvno },
      { ...meta, id: accountEventId(record.account, record.createdAt, 'rotated', kvno) },
    )
  }
  if (operation === 'reset') {
    return PasswordReset.create(
      { account: record.account, kvno, reason: `reset by ${caller.actor}`.slice(0, 256) },
      { ...meta, id: accountEventId(record.account, record.createdAt, 'reset', kvno) },
    )
  }
  const adopted = operation === 'adopt'
  return KerberosAccountCreated.create(
    { account: record.account, dn: record.dn, kvno, encryptionTypes: record.encryptionTypes, adopted },
    {
      ...meta,
      id: accountEventId(record.account, record.createdAt, adopted ? 'adopted' : 'created', kvno),
    },
  )
}

/** The event a decided removal owes, with an id derived from the record's life. */
export function removalAnnouncement(
  record: AccountRecord,
  dn: string,
  caller: CallContext,
  at: Date,
): EventEnvelope {
  return KerberosAccountRemoved.create(
    { account: record.account, dn },
    {
      ...callerMeta(caller),
      occurredAt: at.toISOString(),
      id: accountEventId(record.account, record.createdAt, 'removed', null),
    },
  )
}
