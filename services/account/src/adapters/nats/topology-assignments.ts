import { codec, ErrorCode, KrbfleetError, TopologyRevision } from '@krbfleet/contracts'
import type { KV } from '@nats-io/kv'
import { toBusError } from '@krbfleet/bus'
import type { AssignmentSource } from '../../ports.ts'

const revisionCodec = codec(TopologyRevision, 'topology revision')

/** Keys the topology service writes in `buckets.topology`: the enabled number and its snapshot. */
const ENABLED_KEY = 'enabled'
const revisionKey = (n: number) => `revision.${n}`

/**
 * Which sites the ENABLED topology assigns an account to, read from `buckets.topology` on every
 * call (never cached: a removal must see the latest enable).
 */
export class KvTopologyAssignments implements AssignmentSource {
  readonly #kv: KV
  constructor(kv: KV) {
    this.#kv = kv
  }

  async sitesOf(account: string): Promise<string[]> {
    try {
      const enabled = await this.#kv.get(ENABLED_KEY)
      if (enabled === null || enabled.operation !== 'PUT' || enabled.length === 0) return []
      const number = Number(JSON.parse(enabled.string()))
      if (!Number.isInteger(number) || number < 1) {
        throw new KrbfleetError(
          ErrorCode.Internal,
          `topology: the enabled pointer '${enabled.string()}' is not a revision number`,
        )
      }
      const entry = await this.#kv.get(revisionKey(number))
      if (entry === null || entry.operation !== 'PUT' || entry.length === 0) {
        throw new KrbfleetError(
          ErrorCode.Unavailable,
          `topology revision ${number} is enabled but its snapshot ${revisionKey(number)} is not in the store`,
        )
      }
      const wanted = account.toUpperCase()
      const sites = revisionCodec
        .decode(entry.json())
        .topology.assignments.filter((a) => a.account.toUpperCase() === wanted)
        .map((a) => a.site)
      return [...new Set(sites)].sort()
    } catch (err) {
      if (err instanceof KrbfleetError) throw err
      throw toBusError(err, 'topology bucket read')
    }
  }
}
