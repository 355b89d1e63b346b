import { ErrorCode, KrbfleetError, type RotationTarget } from '@krbfleet/contracts'
import { RotationRecord } from '../../rotation/model.ts'

/**
 * How a rotation record is stored: its targets as a list of (site, pool) pairs and one short row
 * per server (`[server, pair, flags]`, plus the failure when there is one) instead of an object
 * each: a rotation of 10,000 servers takes about 450 KB instead of 1.4 MB, and a KV value is at most
 * NATS's 1 MiB message. A record stored with its targets as objects (before) is read as it is.
 */
type Row =
  | [server: string, pool: number, flags: number]
  | [server: string, pool: number, flags: number, failure: string]
interface PackedTargets {
  pools: Array<[site: string, pool: string]>
  servers: Row[]
}

const ONLINE = 1
const STAGED = 2
const APPLIED = 4

/** The record, checked, as the JSON text stored. */
export function pack(record: RotationRecord): string {
  const { targets, ...rest } = RotationRecord.decode(record)
  const pairs = new Map<string, number>()
  const pools: PackedTargets['pools'] = []
  const servers = targets.map((t): Row => {
    const key = JSON.stringify([t.site, t.pool])
    let pool = pairs.get(key)
    if (pool === undefined) {
      pool = pools.push([t.site, t.pool]) - 1
      pairs.set(key, pool)
    }
    const flags = (t.online ? ONLINE : 0) | (t.staged ? STAGED : 0) | (t.applied ? APPLIED : 0)
    return t.failure === undefined ? [t.server, pool, flags] : [t.server, pool, flags, t.failure]
  })
  return JSON.stringify({ ...rest, packedTargets: { pools, servers } })
}

/** The stored JSON as a record, checked; either form. */
export function unpack(stored: unknown): RotationRecord {
  if (typeof stored !== 'object' || stored === null || !('packedTargets' in stored))
    return RotationRecord.decode(stored)
  const { packedTargets, ...rest } = stored as { packedTargets: unknown }
  return RotationRecord.decode({ ...rest, targets: targetsOf(packedTargets) })
}

function targetsOf(packed: unknown): RotationTarget[] {
  const { pools, servers } = (packed ?? {}) as Partial<PackedTargets>
  if (!Array.isArray(pools) || !Array.isArray(servers)) throw malformed('pools and servers must be lists')
  return servers.map((row, i) => {
    const pair = Array.isArray(row) ? pools[row[1]] : undefined
    if (
      !Array.isArray(row) ||
      typeof row[0] !== 'string' ||
      typeof row[2] !== 'number' ||
      !Array.isArray(pair)
    )
      throw malformed(`servers.${i} must be [server, pool index, flags]`)
    const [server, , flags, failure] = row
    const target: RotationTarget = {
      server,
      site: pair[0],
      pool: pair[1],
      online: (flags & ONLINE) !== 0,
      staged: (flags & STAGED) !== 0,
      applied: (flags & APPLIED) !== 0,
    }
    return failure === undefined ? target : { ...target, failure }
  })
}

function malformed(rule: string): KrbfleetError {
  return new KrbfleetError(ErrorCode.Invalid, `rotation record: packedTargets: ${rule}`, {
    field: 'packedTargets',
    retryable: false,
  })
}
