import { codec } from '@krbfleet/contracts'
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
  },
  { additionalProperties: false },
)

export const PendingOperation = { Create: 'create', Adopt: 'adopt', Reset: 'reset' } as const
export type PendingOperation = (typeof PendingOperation)[keyof typeof PendingOperation]

const PendingSecret = Type.Object(
  {
    sealed: Type.String({ minLength: 1 }),
    operation: Type.Union([Type.Literal('create'), Type.Literal('adopt'), Type.Literal('reset')]),
    /** The kvno before the AD write (null for a create: there was no object). */
    previousKvno: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    startedAt: Type.String(),
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
  },
  { additionalProperties: false },
)
export type AccountRecord = Static<typeof AccountRecordSchema>
export type PendingSecret = Static<typeof PendingSecret>
export const AccountRecordCodec = codec(AccountRecordSchema, 'account record')

export interface NewRecordInput {
  account: string
  dn: string
  samAccountName: string
  dnsHostName: string
  encryptionTypes: number
  adopted: boolean
}

/** Step 1 of create/adopt/reset: the record with the new secret pending (written before AD). */
export function beginSecret(
  existing: AccountRecord | null,
  input: NewRecordInput,
  sealed: string,
  operation: PendingOperation,
  previousKvno: number | null,
  now: Date,
): AccountRecord {
  const at = now.toISOString()
  return {
    ...(existing ?? { createdAt: at, secret: null }),
    account: input.account,
    dn: input.dn,
    samAccountName: input.samAccountName,
    dnsHostName: input.dnsHostName,
    encryptionTypes: input.encryptionTypes,
    adopted: existing ? existing.adopted || input.adopted : input.adopted,
    updatedAt: at,
    pending: { sealed, operation, previousKvno, startedAt: at },
  }
}

/** Step 2: AD took the password and reports `kvno`; the pending secret becomes the current one. */
export function confirmSecret(record: AccountRecord, kvno: number, now: Date): AccountRecord {
  if (!record.pending) throw new Error(`account record ${record.account} has no pending secret to confirm`)
  const at = now.toISOString()
  return {
    ...record,
    secret: { sealed: record.pending.sealed, kvno, setAt: at },
    pending: null,
    updatedAt: at,
  }
}

/** The AD write failed: drop the pending secret, keep the current one. */
export function abandonSecret(record: AccountRecord, now: Date): AccountRecord {
  return { ...record, pending: null, updatedAt: now.toISOString() }
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
