import type { KV } from '@krbfleet/bus'
import { TopologyStore } from '@krbfleet/topology-store'
import type { TopologyDocument } from '@krbfleet/contracts'
import type { AssignmentSource, EnabledTopologySource } from '../../ports.ts'

/**
 * Which sites the ENABLED topology assigns an account to, read from the topology service's bucket
 * (libs/topology-store) on every call, never cached: a removal must see the latest enable.
 */
export class KvTopologyAssignments implements AssignmentSource, EnabledTopologySource {
  readonly #topology: TopologyStore
  constructor(kv: KV) {
    this.#topology = new TopologyStore(kv)
  }

  async enabledTopology(): Promise<TopologyDocument | null> {
    return (await this.#topology.readEnabled())?.topology ?? null
  }

  async sitesOf(account: string): Promise<string[]> {
    const enabled = await this.#topology.readEnabled()
    if (enabled === null) return []
    const wanted = account.toUpperCase()
    const sites = enabled.topology.assignments
      .filter((a) => a.account.toUpperCase() === wanted)
      .map((a) => a.site)
    return [...new Set(sites)].sort()
  }
}
