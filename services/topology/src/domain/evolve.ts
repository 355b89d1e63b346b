import type { Site, TopologyDocument } from '@krbfleet/contracts'
import type { TopologyEvent } from './events.ts'

/**
 * Applies one event to a topology. Pure and total: the decider has already checked the rules.
 * Every list stays sorted by its key, so equal topologies are equal documents (diff, plan, enable).
 */
export function evolve(state: TopologyDocument, event: TopologyEvent): TopologyDocument {
  switch (event.type) {
    case 'SiteAdded':
      return {
        ...state,
        sites: sorted([...state.sites, site(event.site, event.ntlmOnly === true)], (s) => s.name),
      }
    case 'SiteChanged':
      return {
        ...state,
        sites: state.sites.map((s) => (s.name === event.site ? site(event.site, event.ntlmOnly) : s)),
      }
    case 'SiteRemoved':
      return { ...state, sites: state.sites.filter((s) => s.name !== event.site) }
    case 'PoolAdded':
      return { ...state, pools: sorted([...state.pools, event.pool], (p) => p.fqdn) }
    case 'PoolChanged':
      return { ...state, pools: state.pools.map((p) => (p.fqdn === event.pool.fqdn ? event.pool : p)) }
    case 'PoolRemoved':
      return { ...state, pools: state.pools.filter((p) => p.fqdn !== event.pool) }
    case 'ServerAddedToSite':
      return {
        ...state,
        servers: sorted(
          [...state.servers, { fqdn: event.server, pool: event.pool, backend: event.backend }],
          (s) => s.fqdn,
        ),
      }
    case 'ServerRemovedFromSite':
      // An enrolment belongs to the server: a server added again enrols again.
      return {
        ...state,
        servers: state.servers.filter((s) => s.fqdn !== event.server),
        agents: state.agents.filter((a) => a.server !== event.server),
      }
    case 'KerberosAccountAssigned':
      return {
        ...state,
        assignments: sorted(
          [
            ...state.assignments.filter((a) => a.site !== event.site),
            { site: event.site, account: event.account },
          ],
          (a) => a.site,
        ),
      }
    case 'KerberosAccountUnassigned':
      return { ...state, assignments: state.assignments.filter((a) => a.site !== event.site) }
    case 'AgentEnrolled':
      return {
        ...state,
        agents: sorted(
          [...state.agents.filter((a) => a.server !== event.agent.server), event.agent],
          (a) => a.server,
        ),
      }
  }
}

/** The mark is stored only when set, so an unmarked site is `{name}` as before it existed. */
function site(name: string, ntlmOnly: boolean): Site {
  return ntlmOnly ? { name, ntlmOnly: true } : { name }
}

function sorted<T>(items: T[], key: (item: T) => string): T[] {
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}
