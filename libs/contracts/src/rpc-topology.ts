import Type, { type Static, type TSchema } from 'typebox'
import { AgentBackend } from './topology.ts'
import { codec } from './validation.ts'

/**
 * Request and result shapes of the topology service's operations (NATS request/reply, subject
 * `subjects.rpc('topology', <operation>)`). The console validates HTTP bodies with the same
 * schemas. Schemas check the shape only; the topology domain checks the rules (RFC 1123 names,
 * uniqueness, one account per site) and canonicalises names (lower-case FQDNs, DOMAIN\NAME upper).
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })

const SiteName = Type.String({ minLength: 1, maxLength: 64 })
const HostName = Type.String({ minLength: 1, maxLength: 253 })
const HostNames = Type.Array(HostName, { maxItems: 64 })
const AccountId = Type.String({ minLength: 3, maxLength: 64 })
const Backend = Type.Union([Type.Literal(AgentBackend.Iis), Type.Literal(AgentBackend.Keytab)])
/** Decide and report, write nothing. */
const DryRun = Type.Optional(Type.Boolean())

export const TopologyOperation = {
  SiteAdd: 'site.add',
  SiteSet: 'site.set',
  SiteRemove: 'site.remove',
  SiteList: 'site.list',
  PoolAdd: 'pool.add',
  PoolSet: 'pool.set',
  PoolRemove: 'pool.remove',
  PoolList: 'pool.list',
  ServerAdd: 'server.add',
  ServerRemove: 'server.remove',
  ServerList: 'server.list',
  AssignmentNew: 'assignment.new',
  AssignmentSet: 'assignment.set',
  AssignmentRemove: 'assignment.remove',
  AssignmentGet: 'assignment.get',
  AgentEnrol: 'agent.enrol',
  AgentToken: 'agent.token',
  AgentList: 'agent.list',
  TopologyGet: 'topology.get',
  TopologyPlan: 'topology.plan',
  TopologyApply: 'topology.apply',
  TopologyEnable: 'topology.enable',
} as const
export type TopologyOperation = (typeof TopologyOperation)[keyof typeof TopologyOperation]

/** The optional fields of a pool, shared by pool.add and pool.set. */
const PoolFields = {
  webServices: Type.Optional(Type.Boolean()),
  internalWebFqdn: Type.Optional(Type.Union([HostName, Type.Null()])),
  externalWebFqdn: Type.Optional(Type.Union([HostName, Type.Null()])),
  loadBalancerNames: Type.Optional(HostNames),
  aliases: Type.Optional(HostNames),
  shortNameSpns: Type.Optional(Type.Boolean()),
}

export const PoolInput = obj({ fqdn: HostName, site: SiteName, ...PoolFields })
export type PoolInput = Static<typeof PoolInput>
export const PoolPatch = obj({ fqdn: HostName, ...PoolFields })
export type PoolPatch = Static<typeof PoolPatch>
export const ServerInput = obj({ fqdn: HostName, pool: HostName, backend: Type.Optional(Backend) })
export type ServerInput = Static<typeof ServerInput>
export const AssignmentInput = obj({ site: SiteName, account: AccountId })
export type AssignmentInput = Static<typeof AssignmentInput>

/** A whole topology as an operator writes it (`topology apply -f FILE`); optional fields default. */
export const TopologyDocumentInput = obj({
  sites: Type.Optional(
    Type.Array(obj({ name: SiteName, ntlmOnly: Type.Optional(Type.Boolean()) }), { maxItems: 1000 }),
  ),
  pools: Type.Optional(Type.Array(PoolInput, { maxItems: 5000 })),
  servers: Type.Optional(Type.Array(ServerInput, { maxItems: 20000 })),
  assignments: Type.Optional(Type.Array(AssignmentInput, { maxItems: 1000 })),
  /** Accepted so that `topology show --json` output applies back; enrolments are never changed by apply. */
  agents: Type.Optional(Type.Array(Type.Unknown())),
})
export type TopologyDocumentInput = Static<typeof TopologyDocumentInput>

export const TopologyRequests = {
  [TopologyOperation.SiteAdd]: obj({
    name: SiteName,
    ntlmOnly: Type.Optional(Type.Boolean()),
    dryRun: DryRun,
  }),
  /** Marks a site NTLM only on purpose (true), or takes the mark away (false). */
  [TopologyOperation.SiteSet]: obj({ name: SiteName, ntlmOnly: Type.Boolean(), dryRun: DryRun }),
  [TopologyOperation.SiteRemove]: obj({
    name: SiteName,
    force: Type.Optional(Type.Boolean()),
    dryRun: DryRun,
  }),
  [TopologyOperation.SiteList]: obj({ source: Type.Optional(Type.String({ maxLength: 16 })) }),
  [TopologyOperation.PoolAdd]: obj({ ...PoolInput.properties, dryRun: DryRun }),
  [TopologyOperation.PoolSet]: obj({ ...PoolPatch.properties, dryRun: DryRun }),
  [TopologyOperation.PoolRemove]: obj({
    fqdn: HostName,
    force: Type.Optional(Type.Boolean()),
    dryRun: DryRun,
  }),
  [TopologyOperation.PoolList]: obj({
    site: Type.Optional(SiteName),
    source: Type.Optional(Type.String({ maxLength: 16 })),
  }),
  [TopologyOperation.ServerAdd]: obj({ ...ServerInput.properties, dryRun: DryRun }),
  [TopologyOperation.ServerRemove]: obj({ fqdn: HostName, dryRun: DryRun }),
  [TopologyOperation.ServerList]: obj({
    site: Type.Optional(SiteName),
    pool: Type.Optional(HostName),
    source: Type.Optional(Type.String({ maxLength: 16 })),
  }),
  [TopologyOperation.AssignmentNew]: obj({ ...AssignmentInput.properties, dryRun: DryRun }),
  [TopologyOperation.AssignmentSet]: obj({ ...AssignmentInput.properties, dryRun: DryRun }),
  [TopologyOperation.AssignmentRemove]: obj({ site: SiteName, dryRun: DryRun }),
  [TopologyOperation.AssignmentGet]: obj({
    site: Type.Optional(SiteName),
    source: Type.Optional(Type.String({ maxLength: 16 })),
  }),
  /**
   * Served per server (`subjects.agentEnrol(server)`): the server is the subject's, never the
   * body's. A new or replaced key needs the server's one-time enrolment token (`agent.token`).
   */
  [TopologyOperation.AgentEnrol]: obj({
    /** X25519 public key, base64url of the raw 32 bytes. */
    encryptionKey: Type.String({ minLength: 43, maxLength: 44 }),
    /** The one-time enrolment token an operator issued for this server. */
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    dryRun: DryRun,
  }),
  /** The agents of the draft's servers with what they last reported (filters as server.list). */
  [TopologyOperation.AgentList]: obj({ site: Type.Optional(SiteName), pool: Type.Optional(HostName) }),
  /** Issues a server's one-time enrolment token (shown once; stored hashed; expires). */
  [TopologyOperation.AgentToken]: obj({
    server: HostName,
    /** Minutes until it expires: 1 to 43200 (30 days); default 1440 (a day). */
    ttlMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 43_200 })),
  }),
  /** `source`: `draft` (default), `enabled`, or a revision number as text. */
  [TopologyOperation.TopologyGet]: obj({ source: Type.Optional(Type.String({ maxLength: 16 })) }),
  [TopologyOperation.TopologyPlan]: obj({ document: TopologyDocumentInput }),
  [TopologyOperation.TopologyApply]: obj({ document: TopologyDocumentInput, dryRun: DryRun }),
  [TopologyOperation.TopologyEnable]: obj({ dryRun: DryRun }),
} as const satisfies Record<TopologyOperation, TSchema>

export type TopologyRequest<O extends TopologyOperation> = Static<(typeof TopologyRequests)[O]>

/** Compiled codecs of every request, by operation. */
export const topologyRequestCodecs = Object.fromEntries(
  Object.entries(TopologyRequests).map(([op, schema]) => [op, codec(schema, `${op} request`)]),
) as { [O in TopologyOperation]: ReturnType<typeof codec<(typeof TopologyRequests)[O]>> }

/** The answer of `agent.token`: the token itself appears here once and nowhere else. */
export const AgentTokenResult = obj({
  server: HostName,
  token: Type.String({ minLength: 1, maxLength: 128 }),
  expiresAt: Type.String({ format: 'date-time' }),
})
export type AgentTokenResult = Static<typeof AgentTokenResult>

/** What changed, by name: the TopologyEnabled summary and the plan of `topology plan`. */
export const TopologyDiff = obj({
  sitesAdded: Type.Array(Type.String()),
  sitesRemoved: Type.Array(Type.String()),
  sitesChanged: Type.Array(Type.String()),
  poolsAdded: Type.Array(Type.String()),
  poolsChanged: Type.Array(Type.String()),
  poolsRemoved: Type.Array(Type.String()),
  serversAdded: Type.Array(Type.String()),
  serversRemoved: Type.Array(Type.String()),
  assignmentsChanged: Type.Array(Type.String()),
  /** Per list, the names left out of it (a change of thousands of servers lists the first ones). */
  omitted: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 1 }))),
})
export type TopologyDiff = Static<typeof TopologyDiff>

/** One fine-grained change: the event type name and its data (as published on the stream). */
export const ChangeSummary = obj({ type: Type.String(), data: Type.Unknown() })
export type ChangeSummary = Static<typeof ChangeSummary>

/** The answer of every change operation. */
export const ChangeResult = obj({
  /** True when nothing was written (dry run or no change). */
  dryRun: Type.Boolean(),
  /** The events the change published (or would publish on a dry run); empty when nothing changed. */
  changes: Type.Array(ChangeSummary),
  /** How many more events the change published than `changes` lists (absent: none left out). */
  changesOmitted: Type.Optional(Type.Integer({ minimum: 1 })),
  /** The KV revision of the draft after the change (before it on a dry run). */
  draftRevision: Type.Integer({ minimum: 0 }),
  /** The enabled revision after the change (topology.enable, or any change with autoEnable). */
  enabledRevision: Type.Optional(Type.Integer({ minimum: 0 })),
  /** topology.plan / apply / enable: what differs, by name. */
  diff: Type.Optional(TopologyDiff),
})
export type ChangeResult = Static<typeof ChangeResult>
