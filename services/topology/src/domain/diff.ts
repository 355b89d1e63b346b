import type { Pool, Server, TopologyDiff, TopologyDocument } from '@krbfleet/contracts'
import type { TopologyEvent } from './events.ts'

/**
 * Differences between two topologies: by name (`diffTopology`, the TopologyEnabled summary and the
 * plan) and as the events that turn one into the other (`eventsBetween`, declarative apply).
 */

const siteOf = (doc: TopologyDocument, pool: string) => doc.pools.find((p) => p.fqdn === pool)?.site ?? ''

/** A server "moves" when its pool, backend or the site of its pool changes: it leaves and is added again. */
function serverKey(doc: TopologyDocument, s: Server): string {
  return `${s.pool}\u0000${s.backend}\u0000${siteOf(doc, s.pool)}`
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
  const serversA = new Map(a.servers.map((s) => [s.fqdn, serverKey(a, s)]))
  const serversB = new Map(b.servers.map((s) => [s.fqdn, serverKey(b, s)]))
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
      return before && after && !poolMoved(p) && !samePool(before, after)
    }),
    poolsRemoved: [...poolsA.keys()].filter((p) => !poolsB.has(p) || poolMoved(p)),
    serversAdded: [...serversB].filter(([s, key]) => serversA.get(s) !== key).map(([s]) => s),
    serversRemoved: [...serversA].filter(([s, key]) => serversB.get(s) !== key).map(([s]) => s),
    assignmentsChanged: [...new Set([...accountsA.keys(), ...accountsB.keys()])]
      .filter((site) => accountsA.get(site) !== accountsB.get(site))
      .sort(),
  }
}

export function isEmptyDiff(diff: TopologyDiff): boolean {
  return Object.values(diff).every((names) => names.length === 0)
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
  for (const fqdn of d.serversRemoved) {
    const s = a.servers.find((x) => x.fqdn === fqdn)!
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
  for (const fqdn of d.serversAdded) {
    const s = b.servers.find((x) => x.fqdn === fqdn)!
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
  const agentsA = new Map(a.agents.map((x) => [x.server, JSON.stringify(x)]))
  for (const agent of b.agents) {
    // An agent whose server left and came back lost its enrolment on the way (see evolve).
    const kept =
      !d.serversRemoved.includes(agent.server) && agentsA.get(agent.server) === JSON.stringify(agent)
    if (!kept) events.push({ type: 'AgentEnrolled', agent })
  }
  return events
}
