import type { Pool, TopologyDocument, TopologyRevision } from '@krbfleet/contracts'
import type { TopologyStore } from '@krbfleet/topology-store'

/**
 * Makes `revision` the enabled topology the way the topology service does it, for tests of its
 * readers: the document becomes the next draft change, revision n points at that change, then the
 * enabled number moves to n.
 */
export async function enableRevision(store: TopologyStore, revision: TopologyRevision): Promise<void> {
  const draft = await store.readDraft()
  const written = await store.updateDraft(revision.topology, draft.revision, { actor: revision.enabledBy })
  const { topology: _topology, ...pointer } = revision
  await store.createRevision({ ...pointer, draft: written })
  await store.updateEnabledNumber(revision.revision, (await store.readEnabledNumber()).revision)
}

/** A pool as the topology stores it with nothing but its name and site (web services on, no aliases). */
export function plainPool(fqdn: string, site: string): Pool {
  return { fqdn, site, webServices: true, loadBalancerNames: [], aliases: [], shortNameSpns: false }
}

/** The web name of a site's one pool in {@link sitesTopology}. */
export const sitePool = (site: string) => `web.${site}.corp.example.com`

/**
 * One pool per site (`web.<site>.corp.example.com`), the given keytab servers in it, and `account`
 * assigned to every site: the shape of a global deployment's topology (deploy/nats renders a leaf
 * per site from it).
 */
export function sitesTopology(
  account: string,
  sites: ReadonlyArray<{ site: string; servers: string[] }>,
): TopologyDocument {
  return {
    sites: sites.map(({ site }) => ({ name: site })),
    pools: sites.map(({ site }) => plainPool(sitePool(site), site)),
    servers: sites.flatMap(({ site, servers }) =>
      servers.map((fqdn) => ({ fqdn, pool: sitePool(site), backend: 'keytab' as const })),
    ),
    assignments: sites.map(({ site }) => ({ site, account })),
    agents: [],
  }
}
