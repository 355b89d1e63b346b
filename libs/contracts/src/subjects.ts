import { EVENTS_SUBJECT_ROOT } from './envelope.ts'

/** Every NATS subject krbfleet uses is built here; no service writes a subject string by hand. */

export const ServiceName = {
  Topology: 'topology',
  Account: 'account',
  SpnSync: 'spn-sync',
  Console: 'console',
  Agent: 'agent',
} as const
export type ServiceName = (typeof ServiceName)[keyof typeof ServiceName]

const token = /^[A-Za-z0-9_-]+$/

function checkToken(kind: string, value: string): string {
  if (!token.test(value)) throw new Error(`${kind} '${value}' is not a valid subject token`)
  return value
}

export const subjects = {
  /** All events (the events stream captures this). */
  allEvents: `${EVENTS_SUBJECT_ROOT}.>`,
  /** All events of one domain (topology, account, spn, agent, audit). */
  domainEvents: (domain: string) => `${EVENTS_SUBJECT_ROOT}.${checkToken('domain', domain)}.>`,
  /** Request/reply operations of a service: `krbfleet.rpc.topology.site.add`. */
  rpc: (service: ServiceName, operation: string) =>
    `krbfleet.rpc.${service}.${operation
      .split('.')
      .map((p) => checkToken('operation', p))
      .join('.')}`,
  /** Sealed credentials for one agent; only that agent may subscribe. Server FQDN dots become '_'. */
  agentCredential: (server: string) => `krbfleet.agent.${agentToken(server)}.credential`,
}

/** An FQDN as one subject token (dots are subject separators). */
export function agentToken(server: string): string {
  return checkToken('server', server.toLowerCase().replaceAll('.', '_'))
}
