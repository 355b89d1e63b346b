import type { Pool, TopologyRevision } from '@krbfleet/contracts'

/** A pool with defaults a test overrides. */
export function pool(fields: Partial<Pool> & Pick<Pool, 'fqdn' | 'site'>): Pool {
  return { webServices: true, loadBalancerNames: [], aliases: [], shortNameSpns: false, ...fields }
}

/** A revision of `pools` with `assignments` (site -> account). */
export function revision(
  number: number,
  pools: Pool[],
  assignments: Record<string, string>,
): TopologyRevision {
  const sites = [...new Set([...pools.map((p) => p.site), ...Object.keys(assignments)])]
  return {
    revision: number,
    enabledAt: '2026-11-25T12:00:00.000Z',
    enabledBy: 'user:test',
    topology: {
      sites: sites.map((name) => ({ name })),
      pools,
      servers: [],
      assignments: Object.entries(assignments).map(([site, account]) => ({ site, account })),
      agents: [],
    },
  }
}
