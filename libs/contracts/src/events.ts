import Type from 'typebox'
import { defineEvent, HEARTBEATS_SUBJECT_ROOT } from './envelope.ts'
import { AgentBackend, Pool } from './topology.ts'

/**
 * Every event of ARCHITECTURE.md. None carries a secret: credentials travel sealed on their own
 * subject (see subjects.ts), never inside an event.
 */

const Name = Type.String({ minLength: 1, maxLength: 253 })
const Account = Type.String({ minLength: 3, maxLength: 32 })
const Kvno = Type.Integer({ minimum: 0 })
const Revision = Type.Integer({ minimum: 0 })
const Backend = Type.Union([Type.Literal(AgentBackend.Iis), Type.Literal(AgentBackend.Keytab)])
const obj = <P extends Record<string, import('typebox').TSchema>>(p: P) =>
  Type.Object(p, { additionalProperties: false })

// topology
export const SiteAdded = defineEvent(
  'topology',
  'SiteAdded',
  1,
  obj({ site: Name, ntlmOnly: Type.Optional(Type.Literal(true)) }),
)
/** A site's mark changed: NTLM only on purpose (true) or back to expecting an account (false). */
export const SiteChanged = defineEvent(
  'topology',
  'SiteChanged',
  1,
  obj({ site: Name, ntlmOnly: Type.Boolean() }),
)
export const SiteRemoved = defineEvent('topology', 'SiteRemoved', 1, obj({ site: Name }))
export const PoolAdded = defineEvent('topology', 'PoolAdded', 1, obj({ pool: Pool }))
export const PoolChanged = defineEvent('topology', 'PoolChanged', 1, obj({ pool: Pool, previous: Pool }))
export const PoolRemoved = defineEvent('topology', 'PoolRemoved', 1, obj({ pool: Name, site: Name }))
export const ServerAddedToSite = defineEvent(
  'topology',
  'ServerAddedToSite',
  1,
  obj({ server: Name, pool: Name, site: Name, backend: Backend }),
)
export const ServerRemovedFromSite = defineEvent(
  'topology',
  'ServerRemovedFromSite',
  1,
  obj({ server: Name, pool: Name, site: Name }),
)
export const KerberosAccountAssigned = defineEvent(
  'topology',
  'KerberosAccountAssigned',
  1,
  obj({ site: Name, account: Account, previousAccount: Type.Optional(Account) }),
)
export const KerberosAccountUnassigned = defineEvent(
  'topology',
  'KerberosAccountUnassigned',
  1,
  obj({ site: Name, account: Account }),
)
export const AgentEnrolled = defineEvent('topology', 'AgentEnrolled', 1, obj({ server: Name }))
const ChangeCounts = obj({
  sitesAdded: Type.Array(Name),
  sitesRemoved: Type.Array(Name),
  /** Sites whose NTLM-only mark changed (absent from summaries written before the mark existed). */
  sitesChanged: Type.Optional(Type.Array(Name)),
  poolsAdded: Type.Array(Name),
  poolsChanged: Type.Array(Name),
  poolsRemoved: Type.Array(Name),
  serversAdded: Type.Array(Name),
  serversRemoved: Type.Array(Name),
  assignmentsChanged: Type.Array(Name),
  /** Per list, the names left out of it: an event stays small when thousands of servers change. */
  omitted: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 1 }))),
})
export const TopologyEnabled = defineEvent(
  'topology',
  'TopologyEnabled',
  1,
  obj({ revision: Type.Integer({ minimum: 1 }), previousRevision: Revision, summary: ChangeCounts }),
)

// account
export const KerberosAccountCreated = defineEvent(
  'account',
  'KerberosAccountCreated',
  1,
  obj({
    account: Account,
    dn: Type.String(),
    kvno: Kvno,
    encryptionTypes: Type.Integer(),
    adopted: Type.Boolean(),
  }),
)
export const KerberosAccountRemoved = defineEvent(
  'account',
  'KerberosAccountRemoved',
  1,
  obj({ account: Account, dn: Type.String() }),
)
export const PasswordReset = defineEvent(
  'account',
  'PasswordReset',
  1,
  obj({ account: Account, kvno: Kvno, reason: Type.String({ maxLength: 256 }) }),
)
/**
 * An attribute krbfleet keeps on a managed account was changed outside krbfleet and restored by the
 * account service's sweep (today: msDS-SupportedEncryptionTypes; `found` null when it was cleared).
 */
export const AccountDriftRepaired = defineEvent(
  'account',
  'AccountDriftRepaired',
  1,
  obj({
    account: Account,
    attribute: Type.Literal('msDS-SupportedEncryptionTypes'),
    found: Type.Union([Type.Integer(), Type.Null()]),
    restored: Type.Integer(),
  }),
)
export const PasswordRotationStarted = defineEvent(
  'account',
  'PasswordRotationStarted',
  1,
  obj({
    rotationId: Name,
    account: Account,
    /** The servers it targets: all of them, or the first `rotationStartedTargetsListed` by name. */
    targets: Type.Array(Name),
    /** How many servers it targets, when `targets` lists only the first (a larger fleet). */
    targetCount: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
)
/**
 * The servers a PasswordRotationStarted names at most: an event must fit the events stream's
 * 64 KiB, and a fleet's rotation may target tens of thousands (`rotation show` lists them).
 */
export const rotationStartedTargetsListed = 1000
export const PasswordRotated = defineEvent(
  'account',
  'PasswordRotated',
  1,
  obj({ rotationId: Name, account: Account, kvno: Kvno }),
)
export const CredentialIssued = defineEvent(
  'account',
  'CredentialIssued',
  1,
  obj({
    /** The rotation that staged it; absent when the current credential was issued to a server (enrolled, re-keyed or newly assigned). */
    rotationId: Type.Optional(Name),
    account: Account,
    server: Name,
    kvno: Kvno,
  }),
)
export const PasswordRotationFailed = defineEvent(
  'account',
  'PasswordRotationFailed',
  1,
  obj({ rotationId: Name, account: Account, step: Name, reason: Type.String({ maxLength: 1024 }) }),
)

// spn
export const SpnsReconciled = defineEvent(
  'spn',
  'SpnsReconciled',
  1,
  obj({ account: Account, added: Type.Array(Name), removed: Type.Array(Name), revision: Revision }),
)
export const SpnConflictDetected = defineEvent(
  'spn',
  'SpnConflictDetected',
  1,
  obj({ account: Account, spn: Name, holder: Type.String(), revision: Revision }),
)

// agent
// An agent publishes its reports on `<subject>.<its server>`, the only subjects its NATS user may
// use: a consumer trusts the server of the subject (deploy/nats agentUser).
const perServer = { perServer: true }

/** The kvnos a server holds, per account. */
export const HeldKvnos = Type.Array(obj({ account: Account, kvno: Kvno }))
/**
 * An install's report: the kvno installed and, from agents since 2026-12, every kvno the server
 * holds after it (`held`, what its next heartbeat would say: the report stands for that heartbeat).
 */
const Installed = obj({ server: Name, account: Account, kvno: Kvno, held: Type.Optional(HeldKvnos) })

export const CredentialApplied = defineEvent('agent', 'CredentialApplied', 1, Installed, perServer)
/** A rotation's next kvno is held beside the active one (not in use until AD has it). */
export const CredentialStaged = defineEvent('agent', 'CredentialStaged', 1, Installed, perServer)
export const CredentialApplyFailed = defineEvent(
  'agent',
  'CredentialApplyFailed',
  1,
  // account and kvno are absent when the retained credential is too malformed to name them.
  obj({
    server: Name,
    account: Type.Optional(Account),
    kvno: Type.Optional(Kvno),
    reason: Type.String({ maxLength: 1024 }),
  }),
  perServer,
)
/** The server's credential was revoked (it left the topology, or its site lost the assignment) and the agent removed it. */
export const CredentialRemoved = defineEvent(
  'agent',
  'CredentialRemoved',
  1,
  obj({ server: Name, account: Account }),
  perServer,
)
/** What a backend says of itself (keytab writable, the KDC accepts the active key; IIS config readable). */
export const BackendHealthReport = obj({
  ok: Type.Boolean(),
  detail: Type.Optional(Type.String({ maxLength: 1024 })),
})

export const AgentHeartbeat = defineEvent(
  'agent',
  'AgentHeartbeat',
  1,
  obj({
    server: Name,
    backend: Backend,
    kvnos: HeldKvnos,
    health: Type.Optional(BackendHealthReport),
  }),
  { perServer: true, subjectRoot: HEARTBEATS_SUBJECT_ROOT },
)

// audit: every change made through the console, with its actor
export const ChangeRecorded = defineEvent(
  'audit',
  'ChangeRecorded',
  1,
  obj({
    action: Type.String({ minLength: 1, maxLength: 128 }),
    target: Type.String({ maxLength: 512 }),
    outcome: Type.Union([Type.Literal('applied'), Type.Literal('refused'), Type.Literal('dry-run')]),
    detail: Type.Optional(Type.String({ maxLength: 1024 })),
  }),
)

export const allEvents = [
  SiteAdded,
  SiteChanged,
  SiteRemoved,
  PoolAdded,
  PoolChanged,
  PoolRemoved,
  ServerAddedToSite,
  ServerRemovedFromSite,
  KerberosAccountAssigned,
  KerberosAccountUnassigned,
  AgentEnrolled,
  TopologyEnabled,
  KerberosAccountCreated,
  KerberosAccountRemoved,
  PasswordReset,
  AccountDriftRepaired,
  PasswordRotationStarted,
  PasswordRotated,
  CredentialIssued,
  PasswordRotationFailed,
  SpnsReconciled,
  SpnConflictDetected,
  CredentialStaged,
  CredentialApplied,
  CredentialApplyFailed,
  CredentialRemoved,
  AgentHeartbeat,
  ChangeRecorded,
] as const
