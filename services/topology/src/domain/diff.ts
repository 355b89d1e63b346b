import type { Pool, Server, TopologyDiff, TopologyDocument } from '@krbfleet/contracts'
import { keyedChanges } from '@krbfleet/topology-store'
import type { TopologyEvent } from './events.ts'

/**
 * Differences between two topologies: by name (`diffTopology`, the TopologyEnabled summary and the
 * plan) and as the events that turn one into the other (`eventsBetween`, declarative apply).
 */

/** Each pool's site, one map per document (a fleet has thousands of servers in a few pools). */
const sitesOfPools = new WeakMap<Pool[], Map<string, string>>()
function siteOf(doc: TopologyDocument, pool: string): string {
  let sites = sitesOfPools.get(doc.pools)
  if (sites === undefined) {
    sites = new Map(doc.pools.map((p) => [p.fqdn, p.site]))
    sitesOfPools.set(doc.pools, sites)
  }
  return sites.get(pool) ?? ''
}

/** A server "moves" when its pool, backend or the site of its pool changes: it leaves and is added again. */
function serverKey(doc: TopologyDocument, s: Server): string {
  return `${s.pool}\u0000${s.backend}\u0000${siteOf(doc, s.pool)}`
}

/**
 * The servers added and removed. Documents share the lists a change did not touch (evolve, the
 * store's fold), so an enrolment in a fleet of thousands compares no server at all.
 */
function serverChanges(a: TopologyDocument, b: TopologyDocument): { added: string[]; removed: string[] } {
  if (a.servers === b.servers && a.pools === b.pools) return { added: [], removed: [] }
  const serversA = new Map(a.servers.map((s) => [s.fqdn, serverKey(a, s)]))
  const serversB = new Map(b.servers.map((s) => [s.fqdn, serverKey(b, s)]))
  return {
    added: [...serversB].filter(([s, key]) => serversA.get(s) !== key).map(([s]) => s),
    removed: [...serversA].filter(([s, key]) => serversB.get(s) !== key).map(([s]) => s),
  }
}

/**
 * True when nothing of the pool differs. Pools are built in one canonical form (decide's buildPool),
 * so comparing their JSON is enough.
 */
export function samePool(a: Pool, b: Pool): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export function diffTopology(a: TopologyDocument, b: TopologyDocument): TopologyDiff {
  const sitesA = new Map(a.sites.map((s) => [s.name, s.ntlmOnly === true]))
  const sitesB = new Map(b.sites.map((s) => [s.name, s.ntlmOnly === true]))
  const poolsA = new Map(a.pools.map((p) => [p.fqdn, p]))
  const poolsB = new Map(b.pools.map((p) => [p.fqdn, p]))
  const servers = serverChanges(a, b)
  const accountsA = new Map(a.assignments.map((x) => [x.site, x.account]))
  const accountsB = new Map(b.assignments.map((x) => [x.site, x.account]))
  const poolMoved = (fqdn: string) => poolsA.get(fqdn)?.site !== poolsB.get(fqdn)?.site
  return {
    sitesAdded: [...sitesB.keys()].filter((s) => !sitesA.has(s)),
    sitesRemoved: [...sitesA.keys()].filter((s) => !sitesB.has(s)),
    sitesChanged: [...sitesB].filter(([s, mark]) => sitesA.has(s) && sitesA.get(s) !== mark).map(([s]) => s),
    poolsAdded: [...poolsB.keys()].filter((p) => !poolsA.has(p) || poolMoved(p)),
    poolsChanged: [...poolsB.keys()].filter((p) => {
      const before = poolsA.get(p)
      const after = poolsB.get(p)
      return before && after && before !== after && !poolMoved(p) && !samePool(before, after)
    }),
    poolsRemoved: [...poolsA.keys()].filter((p) => !poolsB.has(p) || poolMoved(p)),
    serversAdded: servers.added,
    serversRemoved: servers.removed,
    assignmentsChanged: [...new Set([...accountsA.keys(), ...accountsB.keys()])]
      .filter((site) => accountsA.get(site) !== accountsB.get(site))
      .sort(),
  }
}

export function isEmptyDiff(diff: TopologyDiff): boolean {
  return lists.every((list) => (diff[list]?.length ?? 0) === 0)
}

const lists = [
  'sitesAdded',
  'sitesRemoved',
  'sitesChanged',
  'poolsAdded',
  'poolsChanged',
  'poolsRemoved',
  'serversAdded',
  'serversRemoved',
  'assignmentsChanged',
] as const satisfies (keyof TopologyDiff)[]

/**
 * The diff with each list cut to its first `max` names and the rest counted in `omitted`, so that
 * an event or an answer about thousands of servers stays within a message.
 */
export function boundDiff(diff: TopologyDiff, max: number): TopologyDiff {
  const omitted: Record<string, number> = {}
  const bounded = { ...diff }
  for (const list of lists) {
    const names = diff[list]
    if (names.length > max) {
      bounded[list] = names.slice(0, max)
      omitted[list] = names.length - max
    }
  }
  return Object.keys(omitted).length > 0 ? { ...bounded, omitted } : diff
}

/**
 * The events that turn `a` into `b` (`b` already checked against the rules): removals first,
 * innermost out (assignments, servers, pools, sites), then additions outermost in, so that every
 * intermediate step is a valid topology and each event makes sense to its consumers.
 */
export function eventsBetween(a: TopologyDocument, b: TopologyDocument): TopologyEvent[] {
  const events: TopologyEvent[] = []
  const d = diffTopology(a, b)
  const accountsB = new Map(b.assignments.map((x) => [x.site, x.account]))
  for (const x of a.assignments) {
    if (!accountsB.has(x.site))
      events.push({ type: 'KerberosAccountUnassigned', site: x.site, account: x.account })
  }
  const serversA = new Map(d.serversRemoved.length > 0 ? a.servers.map((s) => [s.fqdn, s]) : [])
  for (const fqdn of d.serversRemoved) {
    const s = serversA.get(fqdn)!
    events.push({ type: 'ServerRemovedFromSite', server: fqdn, pool: s.pool, site: siteOf(a, s.pool) })
  }
  for (const fqdn of d.poolsRemoved) {
    events.push({ type: 'PoolRemoved', pool: fqdn, site: siteOf(a, fqdn) })
  }
  for (const site of d.sitesRemoved) events.push({ type: 'SiteRemoved', site })
  const marked = (site: string) => b.sites.find((s) => s.name === site)?.ntlmOnly === true
  for (const site of d.sitesAdded)
    events.push(marked(site) ? { type: 'SiteAdded', site, ntlmOnly: true } : { type: 'SiteAdded', site })
  // After the removals (a site marked NTLM only has lost its assignment) and before the assignments.
  for (const site of d.sitesChanged) events.push({ type: 'SiteChanged', site, ntlmOnly: marked(site) })
  for (const fqdn of d.poolsAdded)
    events.push({ type: 'PoolAdded', pool: b.pools.find((p) => p.fqdn === fqdn)! })
  for (const fqdn of d.poolsChanged) {
    events.push({
      type: 'PoolChanged',
      pool: b.pools.find((p) => p.fqdn === fqdn)!,
      previous: a.pools.find((p) => p.fqdn === fqdn)!,
    })
  }
  const serversB = new Map(d.serversAdded.length > 0 ? b.servers.map((s) => [s.fqdn, s]) : [])
  for (const fqdn of d.serversAdded) {
    const s = serversB.get(fqdn)!
    events.push({
      type: 'ServerAddedToSite',
      server: fqdn,
      pool: s.pool,
      site: siteOf(b, s.pool),
      backend: s.backend,
    })
  }
  const accountsA = new Map(a.assignments.map((x) => [x.site, x.account]))
  for (const x of b.assignments) {
    const previous = accountsA.get(x.site)
    if (previous === x.account) continue
    events.push({
      type: 'KerberosAccountAssigned',
      site: x.site,
      account: x.account,
      ...(previous !== undefined ? { previousAccount: previous } : {}),
    })
  }
  // An agent whose server left and came back lost its enrolment on the way (see evolve).
  const enrolled = keyedChanges(a.agents, b.agents, (x) => x.server).put
  const left = new Set(d.serversRemoved)
  const put = new Set(enrolled)
  const again = left.size === 0 ? [] : b.agents.filter((x) => left.has(x.server) && !put.has(x))
  for (const agent of [...enrolled, ...again].sort((x, y) => (x.server < y.server ? -1 : 1)))
    events.push({ type: 'AgentEnrolled', agent })
  return events
}
