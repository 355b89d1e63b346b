import Type, { type Static } from 'typebox'

/**
 * The topology document: what the topology service stores as the draft and publishes as numbered
 * revisions. Names are canonical (lower-case FQDNs, upper-case DOMAIN\NAME accounts); the topology
 * domain enforces the rules (uniqueness, one pool per server, ...), the schema only the shape.
 */

export const AgentBackend = { Iis: 'iis', Keytab: 'keytab' } as const
export type AgentBackend = (typeof AgentBackend)[keyof typeof AgentBackend]

export const Site = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    /**
     * Marked on purpose as served by no Kerberos account: its pools answer with NTLM, and Test-CsTopology
     * does not count it as unassigned. Absent when false. A site so marked cannot be assigned an account.
     */
    ntlmOnly: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false },
)
export type Site = Static<typeof Site>

const HostList = Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 64 })

export const Pool = Type.Object(
  {
    fqdn: Type.String({ minLength: 1, maxLength: 253 }),
    site: Type.String({ minLength: 1, maxLength: 64 }),
    /** The pool runs the WebServices role; only such pools get HTTP SPNs. */
    webServices: Type.Boolean(),
    internalWebFqdn: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    externalWebFqdn: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    loadBalancerNames: HostList,
    aliases: HostList,
    /** Also register HTTP/<first label> for each name (short-name SPNs). */
    shortNameSpns: Type.Boolean(),
  },
  { additionalProperties: false },
)
export type Pool = Static<typeof Pool>

export const Server = Type.Object(
  {
    fqdn: Type.String({ minLength: 1, maxLength: 253 }),
    pool: Type.String({ minLength: 1, maxLength: 253 }),
    backend: Type.Union([Type.Literal(AgentBackend.Iis), Type.Literal(AgentBackend.Keytab)]),
  },
  { additionalProperties: false },
)
export type Server = Static<typeof Server>

export const Assignment = Type.Object(
  {
    site: Type.String({ minLength: 1, maxLength: 64 }),
    /** `DOMAIN\NAME`, canonical upper case. */
    account: Type.String({ minLength: 3, maxLength: 32 }),
  },
  { additionalProperties: false },
)
export type Assignment = Static<typeof Assignment>

/** An agent enrolled for a server: its public keys, so credentials can be sealed to it. */
export const AgentEnrolment = Type.Object(
  {
    server: Type.String({ minLength: 1, maxLength: 253 }),
    /** X25519 public key, base64url of the raw 32 bytes. */
    encryptionKey: Type.String({ minLength: 43, maxLength: 44 }),
    enrolledAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
)
export type AgentEnrolment = Static<typeof AgentEnrolment>

export const TopologyDocument = Type.Object(
  {
    sites: Type.Array(Site),
    pools: Type.Array(Pool),
    servers: Type.Array(Server),
    assignments: Type.Array(Assignment),
    agents: Type.Array(AgentEnrolment),
  },
  { additionalProperties: false },
)
export type TopologyDocument = Static<typeof TopologyDocument>

export const emptyTopology = (): TopologyDocument => ({
  sites: [],
  pools: [],
  servers: [],
  assignments: [],
  agents: [],
})

/** A published topology: what every other service acts on. */
export const TopologyRevision = Type.Object(
  {
    revision: Type.Integer({ minimum: 1 }),
    enabledAt: Type.String({ format: 'date-time' }),
    enabledBy: Type.String({ minLength: 1 }),
    topology: TopologyDocument,
  },
  { additionalProperties: false },
)
export type TopologyRevision = Static<typeof TopologyRevision>
