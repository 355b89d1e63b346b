import Type, { type Static } from 'typebox'
import { codec } from './validation.ts'

/**
 * Request/reply vocabulary of the account service (service name `account`). The console and the
 * CLI send these bodies; the service decodes them with the same codecs before its domain sees them.
 * No answer ever carries a password: the secret stays sealed at rest inside the service.
 */

export const accountOperations = {
  create: 'account.create',
  list: 'account.list',
  show: 'account.show',
  remove: 'account.remove',
  test: 'account.test',
  passwordReset: 'password.reset',
  /** The two-phase rotation (Set-CsKerberosAccountPassword): starts it, answers at once. */
  passwordSet: 'password.set',
  /** Set-CsKerberosAccountPassword -FromComputer -ToComputer: the target gets the source's credential. */
  passwordCopy: 'password.copy',
  /** One rotation's progress (by id, or the latest of an account). */
  rotationShow: 'rotation.show',
} as const
export type AccountOperation = (typeof accountOperations)[keyof typeof accountOperations]

/** `DOMAIN\NAME` as typed by the operator; the service parses it with parseAccountName. */
const AccountId = Type.String({ minLength: 1, maxLength: 64 })
const obj = <P extends Record<string, import('typebox').TSchema>>(p: P) =>
  Type.Object(p, { additionalProperties: false })

export const AccountCreateRequest = codec(
  obj({
    account: AccountId,
    /** Container for the new object; the domain's Computers container by default. */
    containerDn: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /**
     * msDS-SupportedEncryptionTypes: a comma list of `aes`, `aes128`, `aes256`, `rc4`, or the number
     * itself. AES only (24) by default.
     */
    encryptionTypes: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Integer({ minimum: 1, maximum: 31 })]),
    ),
    /** An existing account becomes managed (its password is reset so krbfleet knows the secret). */
    adopt: Type.Optional(Type.Boolean()),
    dryRun: Type.Optional(Type.Boolean()),
  }),
  'account.create request',
)
export type AccountCreateRequest = Static<typeof AccountCreateRequest.schema>

export const AccountListRequest = codec(obj({}), 'account.list request')
export type AccountListRequest = Static<typeof AccountListRequest.schema>

export const AccountShowRequest = codec(obj({ account: AccountId }), 'account.show request')
export type AccountShowRequest = Static<typeof AccountShowRequest.schema>

export const AccountRemoveRequest = codec(
  obj({ account: AccountId, dryRun: Type.Optional(Type.Boolean()), force: Type.Optional(Type.Boolean()) }),
  'account.remove request',
)
export type AccountRemoveRequest = Static<typeof AccountRemoveRequest.schema>

export const AccountTestRequest = codec(obj({ account: AccountId }), 'account.test request')
export type AccountTestRequest = Static<typeof AccountTestRequest.schema>

export const PasswordResetRequest = codec(
  obj({ account: AccountId, dryRun: Type.Optional(Type.Boolean()) }),
  'password.reset request',
)
export type PasswordResetRequest = Static<typeof PasswordResetRequest.schema>

/** What krbfleet knows about one account: AD's view merged with the KV record. No secret. */
export const AccountView = obj({
  /** `CORP\KERBAUTH` */
  account: Type.String(),
  dn: Type.String(),
  samAccountName: Type.String(),
  dnsHostName: Type.Union([Type.String(), Type.Null()]),
  description: Type.Union([Type.String(), Type.Null()]),
  userAccountControl: Type.Union([Type.Integer(), Type.Null()]),
  encryptionTypes: Type.Union([Type.Integer(), Type.Null()]),
  /** Names of the encryption types in encryptionTypes (`aes128-cts-hmac-sha1-96`, ...). */
  encryptionTypeNames: Type.Array(Type.String()),
  kvno: Type.Union([Type.Integer(), Type.Null()]),
  /** When AD last set the password (pwdLastSet), ISO 8601. */
  passwordLastSet: Type.Union([Type.String(), Type.Null()]),
  servicePrincipalNames: Type.Array(Type.String()),
  /** True when the object exists in AD. */
  existsInDirectory: Type.Boolean(),
  /** True when krbfleet holds a record (and the sealed secret) for it. */
  managed: Type.Boolean(),
  adopted: Type.Boolean(),
  /** The kvno of the secret krbfleet holds sealed at rest, if any. */
  secretKvno: Type.Union([Type.Integer(), Type.Null()]),
  /** When the schedule rotates the password next (maximum password age, with jitter). */
  nextRotation: Type.Optional(Type.Union([Type.String(), Type.Null()])),
})
export type AccountView = Static<typeof AccountView>

/** The plan of a change, returned instead of doing it when `dryRun` is set, and after doing it. */
export const AccountChange = obj({
  account: Type.String(),
  action: Type.Union([
    Type.Literal('create'),
    Type.Literal('adopt'),
    Type.Literal('remove'),
    Type.Literal('password-reset'),
  ]),
  dryRun: Type.Boolean(),
  dn: Type.String(),
  /** LDAP attributes that are (or would be) written; unicodePwd is shown as `[secret]`. */
  attributes: Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())])),
  /** The kvno after the change (null on a dry run or a removal). */
  kvno: Type.Union([Type.Integer(), Type.Null()]),
})
export type AccountChange = Static<typeof AccountChange>

export const CheckStatus = { Pass: 'pass', Warn: 'warn', Fail: 'fail', Unknown: 'unknown' } as const
export type CheckStatus = (typeof CheckStatus)[keyof typeof CheckStatus]

const CheckStatusSchema = Type.Union([
  Type.Literal('pass'),
  Type.Literal('warn'),
  Type.Literal('fail'),
  Type.Literal('unknown'),
])

export const AccountCheck = obj({
  /** exists, managed, user-account-control, encryption-types, password-age, secret-kvno, spns */
  check: Type.String(),
  status: CheckStatusSchema,
  detail: Type.String(),
})
export type AccountCheck = Static<typeof AccountCheck>

/** Test-CsKerberosAccountAssignment's account half: one line per check, worst status overall. */
export const AccountTestReport = obj({
  account: Type.String(),
  outcome: CheckStatusSchema,
  checks: Type.Array(AccountCheck),
})
export type AccountTestReport = Static<typeof AccountTestReport>

export const PasswordSetRequest = codec(
  obj({
    account: AccountId,
    /** Lists the targets and changes nothing. */
    dryRun: Type.Optional(Type.Boolean()),
  }),
  'password.set request',
)
export type PasswordSetRequest = Static<typeof PasswordSetRequest.schema>

const Server = Type.String({ minLength: 1, maxLength: 253 })
export const PasswordCopyRequest = codec(
  obj({ from: Server, to: Server, dryRun: Type.Optional(Type.Boolean()) }),
  'password.copy request',
)
export type PasswordCopyRequest = Static<typeof PasswordCopyRequest.schema>

export const PasswordCopyResult = obj({
  account: Type.String(),
  from: Type.String(),
  to: Type.String(),
  kvno: Type.Integer({ minimum: 0 }),
  dryRun: Type.Boolean(),
})
export type PasswordCopyResult = Static<typeof PasswordCopyResult>

export const RotationShowRequest = codec(
  obj({
    rotationId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    account: Type.Optional(AccountId),
  }),
  'rotation.show request',
)
export type RotationShowRequest = Static<typeof RotationShowRequest.schema>

/**
 * The steps of a rotation (ARCHITECTURE.md, "The rotation protocol"): staging (new secret sealed
 * as pending, staged credential issued to every target), committing (AD is being written),
 * activating (AD has it: PasswordRotated, agents switch), then done or aborted.
 */
export const RotationState = Type.Union([
  Type.Literal('staging'),
  Type.Literal('committing'),
  Type.Literal('activating'),
  Type.Literal('done'),
  Type.Literal('aborted'),
])
export type RotationState = Static<typeof RotationState>

/** One target server of a rotation, as its agent reported. */
export const RotationTarget = obj({
  server: Type.String(),
  site: Type.String(),
  pool: Type.String(),
  /** The agent heartbeat was recent when the rotation planned (or last looked). */
  online: Type.Boolean(),
  staged: Type.Boolean(),
  applied: Type.Boolean(),
  /** The agent's last failure report for this rotation's kvno. */
  failure: Type.Optional(Type.String({ maxLength: 1024 })),
})
export type RotationTarget = Static<typeof RotationTarget>

const Count = Type.Integer({ minimum: 0 })

/** A rotation's targets counted, in all and per site (the view lists at most `rotationViewTargetsListed`). */
export const RotationCounts = obj({
  targets: Count,
  online: Count,
  staged: Count,
  applied: Count,
  failed: Count,
  sites: Type.Array(
    obj({
      site: Type.String(),
      targets: Count,
      staged: Count,
      applied: Count,
      offline: Count,
      failed: Count,
    }),
  ),
})
export type RotationCounts = Static<typeof RotationCounts>

/**
 * The targets a rotation's view lists at most (the servers still awaited, failed or offline first):
 * an answer must fit a NATS message, and a fleet's rotation may target tens of thousands.
 * `counts` always counts them all.
 */
export const rotationViewTargetsListed = 2000

export const RotationView = obj({
  rotationId: Type.String(),
  account: Type.String(),
  state: RotationState,
  dryRun: Type.Boolean(),
  actor: Type.String(),
  startedAt: Type.String(),
  updatedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  previousKvno: Type.Union([Type.Integer(), Type.Null()]),
  /** The kvno the rotation gives the account (expected until AD confirms it). */
  kvno: Type.Union([Type.Integer(), Type.Null()]),
  /** Every target, or (more than `rotationViewTargetsListed`) the first, those still awaited first. */
  targets: Type.Array(RotationTarget),
  /** All targets counted (absent from answers of older versions: count `targets`). */
  counts: Type.Optional(RotationCounts),
  /** Sites with a server offline that has not applied the kvno: they catch up when they return. */
  pendingSites: Type.Optional(Type.Array(Type.String())),
  /** Why a rotation aborted, or what is left (servers offline, failed). */
  reason: Type.Optional(Type.String({ maxLength: 2048 })),
})
export type RotationView = Static<typeof RotationView>
