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
        sites: upsert(state.sites, site(event.site, event.ntlmOnly === true), (s) => s.name),
      }
    case 'SiteChanged':
      return {
        ...state,
        sites: state.sites.map((s) => (s.name === event.site ? site(event.site, event.ntlmOnly) : s)),
      }
    case 'SiteRemoved':
      return { ...state, sites: state.sites.filter((s) => s.name !== event.site) }
    case 'PoolAdded':
      return { ...state, pools: upsert(state.pools, event.pool, (p) => p.fqdn) }
    case 'PoolChanged':
      return { ...state, pools: state.pools.map((p) => (p.fqdn === event.pool.fqdn ? event.pool : p)) }
    case 'PoolRemoved':
      return { ...state, pools: state.pools.filter((p) => p.fqdn !== event.pool) }
    case 'ServerAddedToSite':
      return {
        ...state,
        servers: upsert(
          state.servers,
          { fqdn: event.server, pool: event.pool, backend: event.backend },
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
        assignments: upsert(state.assignments, { site: event.site, account: event.account }, (a) => a.site),
      }
    case 'KerberosAccountUnassigned':
      return { ...state, assignments: state.assignments.filter((a) => a.site !== event.site) }
    case 'AgentEnrolled':
      return {
        ...state,
        agents: upsert(state.agents, event.agent, (a) => a.server),
      }
  }
}

/** The mark is stored only when set, so an unmarked site is `{name}` as before it existed. */
function site(name: string, ntlmOnly: boolean): Site {
  return ntlmOnly ? { name, ntlmOnly: true } : { name }
}

/**
 * A copy of a list sorted by key with `item` in its place: replacing the item of the same key, or
 * inserted where the order wants it. A binary search, so that a fleet of thousands does not sort.
 */
function upsert<T>(items: readonly T[], item: T, key: (item: T) => string): T[] {
  const k = key(item)
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (key(items[mid]!) < k) lo = mid + 1
    else hi = mid
  }
  const out = items.slice()
  if (lo < out.length && key(out[lo]!) === k) out[lo] = item
  else out.splice(lo, 0, item)
  return out
}
