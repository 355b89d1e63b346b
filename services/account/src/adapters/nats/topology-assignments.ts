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

  /**
   * The enabled topology, with each of its servers' agent enrolment as the topology holds it NOW
   * (the draft): an enrolment is a fact about a running agent, not a design change, so a new or
   * re-keyed agent gets its credential without waiting for the next Enable-CsTopology.
   */
  async enabledTopology(): Promise<TopologyDocument | null> {
    const [enabled, draft] = await Promise.all([this.#topology.readEnabled(), this.#topology.readDraft()])
    if (!enabled) return null
    const current = new Map(draft.topology.agents.map((a) => [a.server, a]))
    const then = new Map(enabled.topology.agents.map((a) => [a.server, a]))
    const agents = enabled.topology.servers.flatMap((s) => {
      const agent = current.get(s.fqdn) ?? then.get(s.fqdn)
      return agent ? [agent] : []
    })
    return { ...enabled.topology, agents }
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
