import type { AgentBackend, AgentEnrolment, Pool } from '@krbfleet/contracts'

/**
 * The facts the topology decider produces. Each maps one-to-one onto a contracts event of the same
 * name (adapters/events.ts), except AgentEnrolled, which also carries the enrolment record so that
 * `evolve` can rebuild the state; only `{server}` goes on the stream.
 */
export type TopologyEvent =
  | { type: 'SiteAdded'; site: string; ntlmOnly?: true }
  | { type: 'SiteChanged'; site: string; ntlmOnly: boolean }
  | { type: 'SiteRemoved'; site: string }
  | { type: 'PoolAdded'; pool: Pool }
  | { type: 'PoolChanged'; pool: Pool; previous: Pool }
  | { type: 'PoolRemoved'; pool: string; site: string }
  | { type: 'ServerAddedToSite'; server: string; pool: string; site: string; backend: AgentBackend }
  | { type: 'ServerRemovedFromSite'; server: string; pool: string; site: string }
  | { type: 'KerberosAccountAssigned'; site: string; account: string; previousAccount?: string }
  | { type: 'KerberosAccountUnassigned'; site: string; account: string }
  | { type: 'AgentEnrolled'; agent: AgentEnrolment }

export type TopologyEventType = TopologyEvent['type']
