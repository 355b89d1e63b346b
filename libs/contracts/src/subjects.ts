import { EVENTS_SUBJECT_ROOT, HEARTBEATS_SUBJECT_ROOT } from './envelope.ts'
import { agentToken, checkToken } from './server-token.ts'
import { buckets } from './storage.ts'

export { agentToken, serverOfToken } from './server-token.ts'

/** Every NATS subject krbfleet uses is built here; no service writes a subject string by hand. */

export const ServiceName = {
  Topology: 'topology',
  Account: 'account',
  SpnSync: 'spn-sync',
  Console: 'console',
  Agent: 'agent',
} as const
export type ServiceName = (typeof ServiceName)[keyof typeof ServiceName]

export const subjects = {
  /** All events (the events stream captures this), heartbeats aside. */
  allEvents: `${EVENTS_SUBJECT_ROOT}.>`,
  /** All agents' heartbeats (the heartbeats stream captures this). */
  allHeartbeats: `${HEARTBEATS_SUBJECT_ROOT}.>`,
  /** All events of one domain (topology, account, spn, agent, audit). */
  domainEvents: (domain: string) => `${EVENTS_SUBJECT_ROOT}.${checkToken('domain', domain)}.>`,
  /** Request/reply operations of a service: `krbfleet.rpc.topology.site.add`. */
  rpc: (service: ServiceName, operation: string) =>
    `krbfleet.rpc.${service}.${operation
      .split('.')
      .map((p) => checkToken('operation', p))
      .join('.')}`,
  /**
   * An agent's enrolment request: the topology operation `agent.enrol` with the server as the last
   * token. The topology service takes the server from the subject, and each agent's NATS user may
   * publish only its own (deploy/nats agentUser).
   */
  agentEnrol: (server: string) => `${subjects.rpc('topology', 'agent.enrol')}.${agentToken(server)}`,
  /**
   * The bell of one server's credential: the account service publishes on it (no content) after it
   * puts or deletes the server's key of the credentials bucket; only that server's agent may
   * subscribe. Server FQDN dots become '_'.
   */
  agentCredential: (server: string) => `krbfleet.agent.${agentToken(server)}.credential`,
  /** One server's key of the credentials bucket, as a subject: `$KV.<bucket>.<token>`. */
  agentCredentialKey: (server: string) => `$KV.${buckets.credentials.bucket}.${agentToken(server)}`,
  /**
   * The JetStream direct get of the latest message of that key (nats-server 2.9+, the bucket allows
   * direct gets): how an agent reads its credential without any consumer right.
   */
  /**
   * The direct get of a server's credential. `apiPrefix` is the JetStream API of the client's
   * domain: `$JS.API` next to the JetStream, `$JS.hub.API` from a leaf node (the hub's domain).
   */
  agentCredentialGet: (server: string, apiPrefix = '$JS.API') =>
    `${apiPrefix}.DIRECT.GET.KV_${buckets.credentials.bucket}.${subjects.agentCredentialKey(server)}`,
}
