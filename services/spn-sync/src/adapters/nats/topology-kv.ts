import type { KV } from '@krbfleet/bus'
import { TopologyStore } from '@krbfleet/topology-store'
import type { TopologyReader } from '../../ports.ts'

/**
 * The enabled topology from the topology service's bucket (libs/topology-store). Read on every
 * reconcile, never cached: the reconcile is level-triggered.
 */
export function topologyFromKv(kv: KV): TopologyReader {
  const store = new TopologyStore(kv)
  return {
    enabled: () => store.readEnabled(),
    revision: (number) => store.readRevision(number),
  }
}
