import type { Pool, TopologyRevision } from '@krbfleet/contracts'
import { httpSpn, SpnSet } from './spn.ts'

/**
 * The SPNs each Kerberos account must hold according to a topology revision.
 *
 * Lync's Enable-CsTopology registered HTTP/<pool FQDN> and the web service FQDNs on the account of
 * the pool's site and left load-balancer and override names to a manual setspn; krbfleet covers
 * them all. Browsers ask for HTTP/<the host name they connected to> (RFC 4559 section 4), so every
 * name a client may type or be sent to needs its SPN on the account whose key the servers hold.
 */

/** Every host name a client can reach the pool by: FQDN, web FQDNs, load-balancer names, aliases. */
export function poolHostNames(pool: Pool): string[] {
  const names = [pool.fqdn]
  if (pool.internalWebFqdn) names.push(pool.internalWebFqdn)
  if (pool.externalWebFqdn) names.push(pool.externalWebFqdn)
  names.push(...pool.loadBalancerNames, ...pool.aliases)
  return names
}

/** The SPNs of one pool: none unless it runs WebServices; short names only when the pool asks. */
export function poolSpns(pool: Pool): SpnSet {
  const spns = new SpnSet()
  if (!pool.webServices) return spns
  for (const name of poolHostNames(pool)) {
    spns.add(httpSpn(name))
    // A client typing http://pool01/ asks for HTTP/pool01 (the first label), not the FQDN.
    if (pool.shortNameSpns) spns.add(httpSpn(name.trim().split('.')[0]!))
  }
  return spns
}

/** The canonical account id of an assignment (`CORP\KERBAUTH`). */
export function accountId(account: string): string {
  return account.trim().toUpperCase()
}

/**
 * account -> desired SPNs, for every account assigned to at least one site of the revision. An
 * assigned account whose sites have no WebServices pool maps to an empty set, so that a reconcile
 * removes what it no longer needs.
 */
export function desiredSpns(revision: TopologyRevision): Map<string, SpnSet> {
  const { assignments, pools } = revision.topology
  const accountBySite = new Map<string, string>()
  for (const assignment of assignments)
    accountBySite.set(siteKey(assignment.site), accountId(assignment.account))
  const desired = new Map<string, SpnSet>()
  for (const account of accountBySite.values()) if (!desired.has(account)) desired.set(account, new SpnSet())
  for (const pool of pools) {
    const account = accountBySite.get(siteKey(pool.site))
    if (account === undefined) continue
    const spns = desired.get(account)!
    for (const spn of poolSpns(pool)) spns.add(spn)
  }
  return desired
}

/** The desired SPNs of one account (empty when it is not assigned in the revision). */
export function desiredSpnsOf(revision: TopologyRevision | null, account: string): SpnSet {
  if (revision === null) return new SpnSet()
  return desiredSpns(revision).get(accountId(account)) ?? new SpnSet()
}

/** Every account assigned to a site in the revision. */
export function accountsOf(revision: TopologyRevision | null): string[] {
  if (revision === null) return []
  return [...new Set(revision.topology.assignments.map((a) => accountId(a.account)))].sort()
}

function siteKey(site: string): string {
  return site.trim().toLowerCase()
}
