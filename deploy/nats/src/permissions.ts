import { MAX_REPLY_PARTS } from '@krbfleet/bus'
import {
  AgentHeartbeat,
  accountOperations,
  agentToken,
  allEvents,
  buckets,
  ChangeRecorded,
  CredentialApplied,
  CredentialApplyFailed,
  CredentialRemoved,
  CredentialStaged,
  KerberosAccountCreated,
  type KvDefinition,
  ServiceName,
  SiteAdded,
  SpnsReconciled,
  spnOperations,
  streams,
  subjects,
  TopologyOperation,
} from '@krbfleet/contracts'

/**
 * NATS users and their subject permissions, built from the contracts (subjects, streams, buckets)
 * so that the deployed configuration follows the code: no subject is written by hand here.
 *
 * Least privilege per identity (ARCHITECTURE.md, security rules):
 *  - a service publishes only the events of its own domain, serves only its own RPC subjects,
 *    calls only the operations it needs (per operation, not per service), and reaches only the JetStream streams and KV buckets it uses;
 *    on the events stream it may create, read and delete only its own durable consumers;
 *  - an agent may read only its own credential subject, publish only the agent events it sends and
 *    call only the topology service's enrolment operation;
 *  - every user receives replies only on its own inbox prefix (`_INBOX_<user>.>`, the client's
 *    `inboxPrefix`, KRBFLEET_NATS_INBOX_PREFIX), so nobody can subscribe to another user's answers;
 *  - only the bootstrap identity may create or update streams (the events stream and the buckets'
 *    KV_ streams); services verify them at start (libs/bus ensureStreams and kv() only read the
 *    stream info of what exists) and fail clearly when they are missing or out of date.
 * Replies to RPC requests go through `allow_responses` (only to a request actually received, at
 * most MAX_REPLY_PARTS messages: the parts of one large answer).
 */
export interface NatsPermissions {
  publish: { allow: string[]; deny?: string[] }
  subscribe: { allow: string[]; deny?: string[] }
  allowResponses: boolean
}

export interface NatsUser {
  user: string
  /** The reply-inbox prefix the client must use (`inboxPrefix`); its subscribe rights allow only this one. */
  inboxPrefix: string
  /** An environment variable reference (`$NAME`): nats-server resolves it at start; no secret in files. */
  passwordVariable: string
  permissions: NatsPermissions
  comment: string
}

/** The domain token of an event definition's subject (`krbfleet.events.<domain>.<Name>`). */
const domainOf = (def: { domain: string }) => def.domain

/**
 * The JetStream API subjects the nats.js KV client (@nats-io/kv 3.4) publishes to READ a bucket, as
 * traced on nats-server 2.9 (`-V`): `kv()` opens it with the stream info; get() is a message get
 * (direct get when the bucket allows it); keys(), history() and watch() create an ORDERED push
 * consumer (ephemeral, AckNone, named `oc_<nuid>_<n>` or `KV_WATCHER_<nuid>`, with the
 * `$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>` API), keys() reads its info, and the server's
 * flow-control requests are answered on `$JS.FC.<stream>.>`. The client never deletes these
 * consumers (the server drops them after their inactivity threshold), never pulls (MSG.NEXT), never
 * acks, never lists: a reader therefore gets no CONSUMER.DELETE, DURABLE.CREATE, MSG.NEXT, ACK,
 * NAMES or LIST right, so it cannot remove another client's watcher on the bucket.
 */
function kvReadApi(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ]
}

/** Creating and updating a stream: the bootstrap identity's right alone. */
function streamAdmin(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.STREAM.UPDATE.${stream}`,
  ]
}

const kvStream = (def: KvDefinition) => `KV_${def.bucket}`

/** Reading a bucket: get, keys, history and watch (see kvReadApi). */
function kvRead(def: KvDefinition): string[] {
  return kvReadApi(kvStream(def))
}

function kvWrite(def: KvDefinition): string[] {
  return [...kvRead(def), `$KV.${def.bucket}.>`]
}

/**
 * The events stream as a service uses it: verify it (stream info), and create, update, read, pull,
 * ack and delete its OWN durable consumers, by name, nobody else's. (A JetStream publish needs no
 * API right: the event's subject and the reply inbox are enough.)
 */
function eventsUse(stream: string, durables: readonly string[]): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    ...durables.flatMap((durable) => [
      `$JS.API.CONSUMER.CREATE.${stream}.${durable}`,
      `$JS.API.CONSUMER.CREATE.${stream}.${durable}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
      `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
      `$JS.API.CONSUMER.DELETE.${stream}.${durable}`,
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
      `$JS.ACK.${stream}.${durable}.>`,
    ]),
  ]
}

/** The reply inbox of one user (nats.js `inboxPrefix`): `_INBOX_<user>`. */
export function inboxPrefixOf(user: string): string {
  return `_INBOX_${user}`
}

/** Every operation of a service: `krbfleet.rpc.<service>.>` (built from the contracts' builder). */
const rpcOf = (service: ServiceName) => subjects.rpc(service, 'any').replace(/\.any$/, '.>')

/**
 * Every operation each service serves, from the contracts' operation constants: a caller's right is
 * one subject per operation (`subjects.rpc(service, operation)`), never the service's wildcard.
 */
export const serviceOperations = {
  [ServiceName.Topology]: Object.values(TopologyOperation),
  [ServiceName.Account]: Object.values(accountOperations),
  [ServiceName.SpnSync]: Object.values(spnOperations),
} as const satisfies Partial<Record<ServiceName, readonly string[]>>

type CallableService = keyof typeof serviceOperations

/** One RPC operation a caller may request. */
interface RpcCall {
  service: CallableService
  operation: string
}

const callsOf = (service: CallableService): RpcCall[] =>
  serviceOperations[service].map((operation) => ({ service, operation }))

const rpcSubject = (call: RpcCall) => subjects.rpc(call.service, call.operation)

/** The events an agent sends (libs/contracts, domain `agent`), each on its own subject. */
const agentEvents = [
  AgentHeartbeat,
  CredentialStaged,
  CredentialApplied,
  CredentialApplyFailed,
  CredentialRemoved,
]

/**
 * The one topology operation an agent (and a site's leaf) may request: its own enrolment, served
 * per server (`subjects.agentEnrol(server)`), so nobody else calls it: not even the console.
 */
const agentEnrol: RpcCall = { service: ServiceName.Topology, operation: TopologyOperation.AgentEnrol }
const notEnrol = (call: RpcCall) => call.operation !== agentEnrol.operation

/** The credential bells of all agents: `krbfleet.agent.*.credential`. */
const anyAgentCredential = subjects.agentCredential('any').replace('.any.', '.*.')

const eventsStream = streams.events.name
const heartbeatsStream = streams.heartbeats.name

interface ServiceRights {
  service: ServiceName
  /** Event domains whose events it publishes. */
  publishes: string[]
  /** The RPC operations it requests (services/<name>/src: every callRpc), one by one. */
  calls: RpcCall[]
  writes: KvDefinition[]
  reads: KvDefinition[]
  /** Rings the agents' credential bells (subjects.agentCredential). */
  ringsAgents?: boolean
  /** Core subscriptions besides its RPC and inbox: the agents' reports a rotation counts. */
  listens?: string[]
  /** Reads stored events one by one (the event log of `krbfleet events`; no consumer). */
  readsEventLog?: boolean
  /** Reads the events stream's state and lists its consumers (GET /v1/bus: lag; no message). */
  readsBusHealth?: boolean
  /**
   * Its durable consumers on the events stream (their names are the service's own: spn-sync's are
   * services/spn-sync `durables`; the test checks that both lists agree).
   */
  durables: readonly string[]
  /** Its durable consumers on the heartbeats stream. */
  heartbeatDurables?: readonly string[]
}

const serviceRights: ServiceRights[] = [
  {
    service: ServiceName.Topology,
    publishes: [domainOf(SiteAdded)],
    calls: [],
    // The agents bucket: each agent's status, from its reports (services/topology src/agents).
    writes: [buckets.topology, buckets.agents],
    reads: [],
    durables: ['topology-agent-status'],
    heartbeatDurables: ['topology-agent-heartbeats'],
  },
  {
    service: ServiceName.Account,
    publishes: [domainOf(KerberosAccountCreated)],
    // `test account` asks spn-sync which SPNs the enabled topology wants (adapters/nats/rpc.ts).
    calls: [{ service: ServiceName.SpnSync, operation: spnOperations.desired }],
    writes: [buckets.accounts, buckets.rotations, buckets.credentials],
    reads: [buckets.topology, buckets.agents],
    ringsAgents: true,
    // The rotation saga counts the agents' reports as they are published (no consumer).
    listens: [CredentialStaged, CredentialApplied, CredentialApplyFailed].map((e) => e.subjects),
    durables: [],
  },
  {
    service: ServiceName.SpnSync,
    publishes: [domainOf(SpnsReconciled)],
    calls: [],
    writes: [buckets.spnOwnership],
    reads: [buckets.topology, buckets.accounts],
    durables: ['spn-sync-topology-enabled', 'spn-sync-account-created', 'spn-sync-account-removed'],
  },
  {
    service: ServiceName.Console,
    publishes: [domainOf(ChangeRecorded)],
    // The operator edge exposes every operation of the three services (REST and CLI).
    calls: [
      ...callsOf(ServiceName.Topology).filter(notEnrol),
      ...callsOf(ServiceName.Account),
      ...callsOf(ServiceName.SpnSync),
    ],
    writes: [],
    // Not the accounts bucket: it holds the sealed secrets, and the console asks the account
    // service (account.list/show) instead of reading records.
    reads: [buckets.topology, buckets.spnOwnership, buckets.agents, buckets.rotations],
    readsEventLog: true,
    readsBusHealth: true,
    durables: [],
  },
]

const passwordVariable = (name: string) =>
  `$KRBFLEET_NATS_PASSWORD_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`

/** The durable consumer names each service may manage on the events stream. */
export function serviceDurables(): Record<string, readonly string[]> {
  return Object.fromEntries(serviceRights.map((r) => [r.service, r.durables]))
}

/** The durable consumer names each service may manage on the heartbeats stream. */
export function serviceHeartbeatDurables(): Record<string, readonly string[]> {
  return Object.fromEntries(serviceRights.map((r) => [r.service, r.heartbeatDurables ?? []]))
}

export function serviceUsers(): NatsUser[] {
  return serviceRights.map((rights) => {
    const user = `krbfleet-${rights.service}`
    const publish = [
      '$JS.API.INFO',
      ...eventsUse(eventsStream, rights.durables),
      // Every service verifies the heartbeats stream at start (ensureStreams), as the events stream.
      ...eventsUse(heartbeatsStream, rights.heartbeatDurables ?? []),
      ...rights.publishes.map((domain) => subjects.domainEvents(domain)),
      ...rights.calls.map(rpcSubject),
      ...rights.writes.flatMap(kvWrite),
      ...rights.reads.flatMap(kvRead),
      ...(rights.ringsAgents ? [anyAgentCredential] : []),
      ...(rights.readsEventLog
        ? [`$JS.API.STREAM.MSG.GET.${eventsStream}`, `$JS.API.STREAM.MSG.GET.${heartbeatsStream}`]
        : []),
      ...(rights.readsBusHealth
        ? [`$JS.API.STREAM.INFO.${eventsStream}`, `$JS.API.CONSUMER.LIST.${eventsStream}`]
        : []),
    ]
    return {
      user,
      inboxPrefix: inboxPrefixOf(user),
      passwordVariable: passwordVariable(rights.service),
      comment: `${rights.service} service: publishes ${rights.publishes.map((d) => `${d} events`).join(', ')}; serves ${rpcOf(rights.service)}`,
      permissions: {
        publish: { allow: [...new Set(publish)] },
        subscribe: { allow: [rpcOf(rights.service), `${inboxPrefixOf(user)}.>`, ...(rights.listens ?? [])] },
        allowResponses: true,
      },
    }
  })
}

/**
 * The one identity that creates and updates krbfleet's streams (the events stream and every
 * bucket's KV_ stream): run once per deployment, and again after an upgrade that changes them,
 * with `node deploy/nats/bootstrap.ts` (libs/bus ensureStreams and kv() under this user).
 */
export function bootstrapUser(): NatsUser {
  const user = 'krbfleet-bootstrap'
  return {
    user,
    inboxPrefix: inboxPrefixOf(user),
    passwordVariable: passwordVariable('bootstrap'),
    comment: 'bootstrap: creates and updates the events stream and the KV buckets; nothing else',
    permissions: {
      publish: {
        allow: [
          '$JS.API.INFO',
          ...Object.values(streams).flatMap((def) => streamAdmin(def.name)),
          ...Object.values(buckets).flatMap((def) => streamAdmin(kvStream(def))),
        ],
      },
      subscribe: { allow: [`${inboxPrefixOf(user)}.>`] },
      allowResponses: false,
    },
  }
}

/**
 * One user per agent (per web server). It reads only its own credential: it subscribes to its own
 * credential bell and direct-gets the latest message of its own key of the credentials bucket, with
 * no JetStream consumer right at all (a consumer's filter could name another server's key), and no
 * `$KV.` subject (which a site's leaf never lets through, `leafDenyExports`). Everything it sends
 * names its own server in the subject, and only that subject is allowed: the agent events it sends
 * (`<event subject>.<server>`, not the whole domain) and exactly one operation, its own enrolment
 * (`agent.enrol.<server>`), so one agent's login can neither enrol nor report for another server.
 */
export function agentUser(server: string, options: { jsDomain?: string } = {}): NatsUser {
  const credential = subjects.agentCredential(server)
  const jsApi = options.jsDomain ? `$JS.${options.jsDomain}.API` : '$JS.API'
  const user = `agent-${agentToken(server)}`
  return {
    user,
    inboxPrefix: inboxPrefixOf(user),
    passwordVariable: passwordVariable(`agent_${agentToken(server)}`),
    comment: `agent on ${server}: its own credential subject only`,
    permissions: {
      publish: {
        allow: [
          ...agentEvents.map((e) => `${e.subject}.${agentToken(server)}`),
          subjects.agentEnrol(server),
          `${jsApi}.INFO`,
          subjects.agentCredentialGet(server, jsApi),
        ],
      },
      subscribe: { allow: [credential, `${inboxPrefixOf(user)}.>`], deny: [] },
      allowResponses: false,
    },
  }
}

/** The hub cluster's JetStream domain (hub/hub-common.conf), which every leaf maps its agents to. */
export const hubJetStreamDomain = 'hub'

/**
 * The identity a site's leaf node presents to the hub: its TLS client certificate's subject
 * (`verify_and_map` on the hub's leafnode port), bound to the KRBFLEET account. No password.
 */
export function leafCertificateSubject(site: string): string {
  return `CN=leaf-${site},OU=leaf,O=krbfleet`
}

/**
 * What a site's leaf must never send to the hub, even if the site is compromised: events of the
 * other domains, RPC to services other than topology, every topology operation but agent.enrol,
 * KV writes and JetStream administration. (nats-server 2.9 has no allow-list for leaf connections;
 * these deny lists sit on the remote. A deny wildcard cannot spare one operation, so the topology
 * operations are listed one by one from TopologyOperation: the topology service serves only those.)
 */
export function leafDenyExports(): string[] {
  // Every JetStream administration subject in both forms: as sent, and as the leaf maps it to the
  // hub's domain (default_js_domain).
  const admin = [
    'STREAM.CREATE.>',
    'STREAM.UPDATE.>',
    'STREAM.DELETE.>',
    'STREAM.PURGE.>',
    'STREAM.MSG.DELETE.>',
  ]
  const domains = [...new Set(allEvents.map((e) => e.domain))].filter((d) => d !== domainOf(AgentHeartbeat))
  return [
    ...domains.map((d) => subjects.domainEvents(d)),
    ...Object.values(ServiceName)
      .filter((s) => s !== ServiceName.Topology)
      .map(rpcOf),
    ...callsOf(ServiceName.Topology).filter(notEnrol).map(rpcSubject),
    '$KV.>',
    `$JS.${hubJetStreamDomain}.API.$KV.>`,
    ...admin.map((s) => `$JS.API.${s}`),
    ...admin.map((s) => `$JS.${hubJetStreamDomain}.API.${s}`),
  ]
}

const quote = (value: string) => JSON.stringify(value)

function renderList(values: string[], indent: string): string {
  if (values.length === 0) return '[]'
  return `[\n${values.map((v) => `${indent}  ${quote(v)}`).join(',\n')}\n${indent}]`
}

/** A users block for nats-server's configuration format. */
export function renderUsers(users: NatsUser[], indent = '  '): string {
  const inner = `${indent}  `
  return users
    .map((u) => {
      const p = u.permissions
      const lines = [
        `${indent}# ${u.comment}`,
        `${indent}# client inbox prefix: ${u.inboxPrefix} (KRBFLEET_NATS_INBOX_PREFIX)`,
        `${indent}{`,
        `${inner}user: ${quote(u.user)}`,
        `${inner}password: ${u.passwordVariable}`,
        `${inner}permissions: {`,
        `${inner}  publish: { allow: ${renderList(p.publish.allow, `${inner}  `)} }`,
        `${inner}  subscribe: { allow: ${renderList(p.subscribe.allow, `${inner}  `)}${
          p.subscribe.deny && p.subscribe.deny.length > 0
            ? `, deny: ${renderList(p.subscribe.deny, `${inner}  `)}`
            : ''
        } }`,
        // An answer larger than one message goes in parts (libs/bus serveRpc): as many responses.
        ...(p.allowResponses ? [`${inner}  allow_responses: { max: ${MAX_REPLY_PARTS} }`] : []),
        `${inner}}`,
        `${indent}}`,
      ]
      return lines.join('\n')
    })
    .join('\n')
}

const generatedHeader = (what: string) =>
  [
    `# ${what}`,
    '# GENERATED by `node deploy/nats/generate.ts` from libs/contracts (subjects, streams, buckets).',
    '# Do not edit: change deploy/nats/src/permissions.ts and regenerate. Passwords are environment',
    '# variables ($KRBFLEET_NATS_PASSWORD_*) that nats-server resolves at start; no secret is in this file.',
    '',
  ].join('\n')

/**
 * Accounts and users of the hub cluster (included by hub/hub-N.conf). `extraUsers` join the
 * KRBFLEET account (a loopback deployment's test observer); the generated file has none.
 */
export function renderHubAuth(extraUsers: NatsUser[] = []): string {
  return [
    generatedHeader('Hub accounts: one user per krbfleet service, least privilege.'),
    'accounts {',
    '  KRBFLEET {',
    '    jetstream: enabled',
    '    users: [',
    renderUsers([...serviceUsers(), bootstrapUser(), ...extraUsers], '      '),
    '    ]',
    '  }',
    '  SYS {',
    '    users: [',
    '      { user: "sys", password: $KRBFLEET_NATS_PASSWORD_SYS }',
    '    ]',
    '  }',
    '}',
    'system_account: SYS',
    '',
  ].join('\n')
}

/** The leaf nodes the hub accepts, by client-certificate subject (included inside `leafnodes.authorization`). */
export function renderHubLeafUsers(sites: string[]): string {
  return [
    generatedHeader('Leaf nodes accepted by the hub: one per site, mapped from its TLS client certificate.'),
    'users: [',
    ...sites.map((site) => `  { user: ${quote(leafCertificateSubject(site))}, account: KRBFLEET }`),
    ']',
    '',
  ].join('\n')
}

export interface LeafOptions {
  site: string
  servers: string[]
  /** `nats-leaf://host:7422` of each hub server. */
  hubUrls: string[]
}

/** A whole leaf-node configuration for one site: its agents' users and the TLS link to the hub. */
export function renderLeaf(options: LeafOptions): string {
  const { site } = options
  const tlsDir = '/etc/nats/tls'
  return [
    generatedHeader(`Leaf node of site ${site}: the agents of its web servers connect here.`),
    `server_name: ${quote(`leaf-${site}`)}`,
    'listen: "0.0.0.0:4222"',
    'http: "127.0.0.1:8222"',
    '',
    '# Agents connect with TLS (server certificate of this leaf, signed by the krbfleet CA).',
    'tls {',
    `  cert_file: ${quote(`${tlsDir}/leaf-${site}.pem`)}`,
    `  key_file: ${quote(`${tlsDir}/leaf-${site}-key.pem`)}`,
    `  ca_file: ${quote(`${tlsDir}/ca.pem`)}`,
    '  timeout: 2',
    '}',
    '',
    'accounts {',
    '  KRBFLEET {',
    '    users: [',
    renderUsers(
      options.servers.map((server) => agentUser(server, { jsDomain: hubJetStreamDomain })),
      '      ',
    ),
    '    ]',
    '  }',
    '}',
    '',
    "# The leaf keeps no JetStream of its own: its agents reach the hub's JetStream domain",
    `# (KRBFLEET_NATS_JS_DOMAIN=${hubJetStreamDomain}: $JS.${hubJetStreamDomain}.API.>, hub/hub-common.conf) across the link below.`,
    'leafnodes {',
    '  remotes: [',
    '    {',
    `      urls: ${renderList(options.hubUrls, '      ')}`,
    '      account: KRBFLEET',
    '      # mutual TLS: the hub maps this certificate subject to the KRBFLEET account',
    `      # (${leafCertificateSubject(site)}).`,
    '      tls: {',
    `        cert_file: ${quote(`${tlsDir}/leaf-${site}-client.pem`)}`,
    `        key_file: ${quote(`${tlsDir}/leaf-${site}-client-key.pem`)}`,
    `        ca_file: ${quote(`${tlsDir}/ca.pem`)}`,
    '      }',
    `      deny_exports: ${renderList(leafDenyExports(), '      ')}`,
    '    }',
    '  ]',
    '}',
    '',
  ].join('\n')
}
