import { codec, ErrorCode, KrbfleetError, ValidationError } from '@krbfleet/contracts'
import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'

/**
 * The KV record of one managed account (`buckets.accounts`, key `CORP.KERBAUTH`). The password is
 * never in it in clear: `sealed` is the output of encryptAtRest with the key-encryption key.
 *
 * Saga rule (ARCHITECTURE.md): a new secret is recorded as `pending` BEFORE the AD write, and moved
 * to `secret` (with the kvno AD reports) after it. A crash in between leaves a pending secret that
 * {@link resolvePending} settles by looking at AD.
 */

const SealedSecret = Type.Object(
  {
    /** encryptAtRest output, base64. */
    sealed: Type.String({ minLength: 1 }),
    kvno: Type.Integer({ minimum: 0 }),
    setAt: Type.String(),
    /** The rotation that set it (rotation/), if one did. */
    rotationId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
)

export const PendingOperation = {
  Create: 'create',
  Adopt: 'adopt',
  Reset: 'reset',
  Rotate: 'rotate',
} as const
export type PendingOperation = (typeof PendingOperation)[keyof typeof PendingOperation]

/** The event envelope's limits (libs/contracts envelope.ts): actor 1-256, correlationId 1-64. */
export const ACTOR_MAX = 256
export const CORRELATION_ID_MAX = 64

const PendingSecret = Type.Object(
  {
    sealed: Type.String({ minLength: 1 }),
    /** rotate: a two-phase rotation's secret, settled by its saga (rotation/), not by the sweep. */
    operation: Type.Union([
      Type.Literal('create'),
      Type.Literal('adopt'),
      Type.Literal('reset'),
      Type.Literal('rotate'),
    ]),
    /** The kvno before the AD write (null for a create: there was no object). */
    previousKvno: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    startedAt: Type.String(),
    /**
     * Who asked, so that a pending secret confirmed by recovery is announced in their name. Bounded
     * like the event envelope's actor / correlationId: a value the envelope refuses would make the
     * announcement fail to build AFTER the AD write.
     */
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: ACTOR_MAX })),
    correlationId: Type.Optional(Type.String({ minLength: 1, maxLength: CORRELATION_ID_MAX })),
  },
  { additionalProperties: false },
)

export const AccountRecordSchema = Type.Object(
  {
    account: Type.String(),
    dn: Type.String(),
    samAccountName: Type.String(),
    dnsHostName: Type.String(),
    encryptionTypes: Type.Integer(),
    adopted: Type.Boolean(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    secret: Type.Union([SealedSecret, Type.Null()]),
    pending: Type.Union([PendingSecret, Type.Null()]),
    /**
     * Earlier kvnos whose tickets may still be valid, each until the maximum ticket lifetime after
     * the secret replaced it: the servers keep their keys until then (credential `keep`). Absent in
     * records written before it existed.
     */
    retiring: Type.Optional(
      Type.Array(
        Type.Object(
          { kvno: Type.Integer({ minimum: 0 }), until: Type.String() },
          { additionalProperties: false },
        ),
        { maxItems: 16 },
      ),
    ),
    /**
     * Events owed for writes already made (the outbox): written together with the write they
     * announce, removed once JetStream acknowledged them. Their ids are derived from the record
     * ({@link accountEventId}), so a republish after a crash or a failed publish is a duplicate that
     * JetStream drops, never a second event. Absent in records written before it existed.
     */
    outbox: Type.Optional(Type.Array(Type.Unknown())),
    /** Set when a removal was decided: the sweep finishes it (AD delete, event, purge). */
    removing: Type.Optional(Type.Boolean()),
    /**
     * The AD object the removal decided to delete (with `removing`): its DN and objectGUID (hex),
     * or null when AD had no object then. The sweep deletes only that object, never a later one
     * that happens to carry the same sAMAccountName. Absent in records written before it existed
     * (the sweep then matches the record's DN only).
     */
    removalTarget: Type.Optional(
      Type.Union([
        Type.Object(
          { dn: Type.String({ minLength: 1 }), objectGuid: Type.Union([Type.String(), Type.Null()]) },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
  },
  { additionalProperties: false },
)
export type AccountRecord = Static<typeof AccountRecordSchema>
export type PendingSecret = Static<typeof PendingSecret>
export const AccountRecordCodec = codec(AccountRecordSchema, 'account record')

/**
 * The id of the event announcing `operation` on an account: a function of the account, the record's
 * life (createdAt: a create after a remove is a new life, so a new id) and the kvno the operation
 * produced. At most 64 characters (envelope id rule).
 */
export function accountEventId(
  account: string,
  createdAt: string,
  operation: 'created' | 'adopted' | 'reset' | 'rotated' | 'removed' | 'drift-repaired',
  kvno: number | null,
  /** What makes two events of the same operation and kvno different (a repair: the record's updatedAt). */
  instance?: string,
): string {
  const digest = createHash('sha256')
    .update(
      `${account}\n${createdAt}\n${operation}\n${kvno ?? '-'}${instance === undefined ? '' : `\n${instance}`}`,
    )
    .digest('hex')
  return `account-${operation}-${digest.slice(0, 40)}`
}

/** The record with its outbox emptied of `ids` (after JetStream acknowledged them). */
export function markPublished(record: AccountRecord, ids: readonly string[]): AccountRecord {
  const left = (record.outbox ?? []).filter((e) => !ids.includes((e as { id?: string }).id ?? ''))
  const { outbox: _drop, ...rest } = record
  return left.length > 0 ? { ...rest, outbox: left } : rest
}

export interface NewRecordInput {
  account: string
  dn: string
  samAccountName: string
  dnsHostName: string
  encryptionTypes: number
  adopted: boolean
}

/**
 * Step 1 of create/adopt/reset: the record with the new secret pending (written before AD).
 *
 * `existing` is the record this write continues (a reset, or an adopt of an object krbfleet
 * already manages): its life (createdAt), current secret and owed events (outbox) carry over.
 * Pass null to start a new life: a new createdAt (so new event ids), no secret, no outbox. A
 * record whose removal was decided is never continued: the caller finishes the removal first.
 */
export function beginSecret(
  existing: AccountRecord | null,
  input: NewRecordInput,
  sealed: string,
  operation: PendingOperation,
  previousKvno: number | null,
  now: Date,
  caller: { actor?: string; correlationId?: string } = {},
): AccountRecord {
  if (existing?.removing) {
    throw new KrbfleetError(
      ErrorCode.Conflict,
      `account: the removal of ${existing.account} is decided but not finished; try again once it is`,
      { field: 'account', retryable: true },
    )
  }
  const at = now.toISOString()
  let carried: Omit<AccountRecord, 'removing' | 'removalTarget'> | { createdAt: string; secret: null } = {
    createdAt: at,
    secret: null,
  }
  if (existing) {
    const { removing: _removing, removalTarget: _target, ...rest } = existing
    carried = rest
  }
  return {
    ...carried,
    account: input.account,
    dn: input.dn,
    samAccountName: input.samAccountName,
    dnsHostName: input.dnsHostName,
    encryptionTypes: input.encryptionTypes,
    adopted: existing ? existing.adopted || input.adopted : input.adopted,
    updatedAt: at,
    pending: {
      sealed,
      operation,
      previousKvno,
      startedAt: at,
      ...(caller.actor ? { actor: caller.actor } : {}),
      ...(caller.correlationId ? { correlationId: caller.correlationId } : {}),
    },
  }
}

/**
 * Step 2: AD took the password and reports `kvno`; the pending secret becomes the current one,
 * and `announce` (the event this write owes) joins the outbox in the same KV write.
 */
export function confirmSecret(
  record: AccountRecord,
  kvno: number,
  now: Date,
  announce?: unknown,
  /** How long tickets of the replaced kvno stay valid (the maximum ticket lifetime). */
  retireAfterMs = DEFAULT_MAX_TICKET_LIFETIME_MS,
): AccountRecord {
  if (!record.pending) throw new Error(`account record ${record.account} has no pending secret to confirm`)
  const at = now.toISOString()
  const replaced = record.secret && record.secret.kvno !== kvno ? record.secret.kvno : null
  const retiring = [
    ...stillRetiring(record, now).filter((r) => r.kvno !== kvno && r.kvno !== replaced),
    ...(replaced === null
      ? []
      : [{ kvno: replaced, until: new Date(now.getTime() + retireAfterMs).toISOString() }]),
  ].slice(-16)
  const { retiring: _old, ...rest } = record
  return {
    ...rest,
    secret: {
      sealed: record.pending.sealed,
      kvno,
      setAt: at,
      ...(record.pending.operation === 'rotate' && record.pending.correlationId
        ? { rotationId: record.pending.correlationId }
        : {}),
    },
    pending: null,
    updatedAt: at,
    ...(retiring.length > 0 ? { retiring } : {}),
    ...(announce === undefined ? {} : { outbox: [...(record.outbox ?? []), announce] }),
  }
}

/** The maximum ticket lifetime AD grants by default (10 h): how long a replaced kvno is kept. */
export const DEFAULT_MAX_TICKET_LIFETIME_MS = 10 * 60 * 60 * 1000

/** The replaced kvnos whose tickets may still be valid at `now`. */
export function stillRetiring(record: AccountRecord, now: Date): Array<{ kvno: number; until: string }> {
  return (record.retiring ?? []).filter((r) => Date.parse(r.until) > now.getTime())
}

/** The AD write failed: drop the pending secret, keep the current one. */
export function abandonSecret(record: AccountRecord, now: Date): AccountRecord {
  return { ...record, pending: null, updatedAt: now.toISOString() }
}

/**
 * True when the DC definitely did NOT apply a write: it answered with an LDAP result code (an
 * LDAP operation is atomic, RFC 4511 section 4.6), or the write was refused before anything was
 * sent (unencrypted connection, malformed input). Timeouts, lost connections and unknown failures
 * are not refusals: the DC may have applied the write before the answer was lost.
 */
export function isDefiniteRefusal(err: unknown): boolean {
  if (!(err instanceof KrbfleetError)) return false
  if (typeof err.details?.ldapCode === 'number') return true
  return err instanceof ValidationError || err.code === ErrorCode.InsecureConnection
}

export type PendingResolution =
  | { action: 'none' }
  | { action: 'confirm'; kvno: number }
  | { action: 'abandon' }
  /** A create that never reached AD: the record describes nothing. */
  | { action: 'delete' }

/**
 * After a crash between "record pending" and "confirm": if AD's kvno moved past the one seen
 * before the write, the AD write happened and the pending secret is the live one (each unicodePwd
 * write bumps msDS-KeyVersionNumber by one, lab/NOTES.md); otherwise the write never happened.
 */
export function resolvePending(record: AccountRecord, adKvno: number | null): PendingResolution {
  const pending = record.pending
  if (!pending) return { action: 'none' }
  if (adKvno === null) return record.secret ? { action: 'abandon' } : { action: 'delete' }
  if (pending.previousKvno === null || adKvno > pending.previousKvno)
    return { action: 'confirm', kvno: adKvno }
  return { action: 'abandon' }
}

/**
 * True when `ad` is the object a decided removal is about: same DN (DNs compare case-insensitively,
 * RFC 4514) and, when the decision saw one, the same objectGUID (a delete and a new add under the
 * same name give a new GUID, MS-ADTS 3.1.1.1.3). A decision taken when AD had no object targets
 * nothing; a record from before targets were recorded falls back to its own DN.
 */
export function isRemovalTarget(
  record: AccountRecord,
  ad: { dn: string; objectGuid?: string | null | undefined },
): boolean {
  const target = record.removalTarget
  if (target === null) return false
  const sameDn = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  if (target === undefined) return sameDn(ad.dn, record.dn)
  if (!sameDn(ad.dn, target.dn)) return false
  return target.objectGuid === null || target.objectGuid === (ad.objectGuid ?? null)
}
