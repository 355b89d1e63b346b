import { codec, ErrorCode, KrbfleetError, TopologyRevision } from '@krbfleet/contracts'
import type { KV } from '@krbfleet/bus'
import type { TopologyReader } from '../../ports.ts'

const revisionCodec = codec(TopologyRevision, 'topology revision')

/** Key of the enabled revision number in `buckets.topology` (written by the topology service). */
export const ENABLED_KEY = 'enabled'
/** Key of one published revision snapshot. */
export const revisionKey = (n: number) => `revision.${n}`

/**
 * The enabled topology from the topology service's bucket: `enabled` holds the revision number,
 * `revision.<n>` the snapshot. Read on every reconcile, never cached: the reconcile is level-triggered.
 */
export function topologyFromKv(kv: KV): TopologyReader {
  async function revision(number: number): Promise<TopologyRevision | null> {
    const entry = await kv.get(revisionKey(number))
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return null
    return revisionCodec.decode(entry.json())
  }
  return {
    revision,
    async enabled() {
      const entry = await kv.get(ENABLED_KEY)
      if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return null
      const number = parseEnabled(entry.string())
      const snapshot = await revision(number)
      if (snapshot === null) {
        // The pointer is written after the snapshot; a missing snapshot is a transient state or a
        // damaged store. Retry rather than act on nothing.
        throw new KrbfleetError(
          ErrorCode.Unavailable,
          `topology revision ${number} is enabled but its snapshot ${revisionKey(number)} is not in the store`,
        )
      }
      return snapshot
    },
  }
}

/** `enabled` holds the revision number as JSON (`7`), as the topology service writes it. */
function parseEnabled(text: string): number {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    value = undefined
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new KrbfleetError(
      ErrorCode.Internal,
      `topology key '${ENABLED_KEY}' does not hold a revision number`,
      { retryable: false },
    )
  }
  return value
}
