import {
  allEvents,
  type EventEnvelope,
  subjects,
  type TopologyDocument,
  ValidationError,
} from '@krbfleet/contracts'

/**
 * What `krbfleet events` and GET /v1/events ask of the event log, pure: which stream subject to
 * read (a type narrows it on the server), since when, and which events pass the site / account /
 * server filters. Heartbeats are in a stream of their own (libs/contracts streamOf): read only when
 * asked for by type, as they are a liveness signal, not something an operator reads.
 */

export interface EventQuery {
  /** An event name (`PasswordRotated`) or its full type (`krbfleet.account.PasswordRotated.v1`). */
  type?: string | undefined
  site?: string | undefined
  account?: string | undefined
  server?: string | undefined
}

const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `30s`, `15m`, `2h`, `7d` before `now`, or an ISO 8601 time; the field and the rule otherwise. */
export function parseSince(value: string, now: Date): Date {
  const relative = /^(\d{1,6})([smhd])$/.exec(value.trim())
  if (relative) return new Date(now.getTime() - Number(relative[1]) * units[relative[2]!]!)
  const at = Date.parse(value)
  if (!Number.isNaN(at) && /^\d{4}-\d\d-\d\d/.test(value)) return new Date(at)
  throw new ValidationError(
    [{ field: 'since', rule: 'must be a duration (30s, 15m, 2h, 7d) or an ISO 8601 time' }],
    'query',
  )
}

/** The definition a type names (its event name or its full type), or a refusal listing the names. */
function definitionOf(type: string): (typeof allEvents)[number] {
  const wanted = type.toLowerCase()
  const found = allEvents.find((d) => d.type.toLowerCase() === wanted || d.name.toLowerCase() === wanted)
  if (found) return found
  throw new ValidationError(
    [{ field: 'type', rule: `must be one of ${allEvents.map((d) => d.name).join(', ')}` }],
    'query',
  )
}

/** The stream subject filter of a query: the type's own subject(s), or every event. */
export function subjectOf(query: EventQuery): string {
  if (!query.type) return subjects.allEvents
  return definitionOf(query.type).subjects
}

const lower = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : undefined)

/** The site of each server and pool of the topology, by lower-cased name. */
export function sitesByName(topology: TopologyDocument): Map<string, string> {
  const sites = new Map<string, string>()
  for (const pool of topology.pools) sites.set(pool.fqdn.toLowerCase(), pool.site.toLowerCase())
  for (const server of topology.servers) {
    const site = sites.get(server.pool.toLowerCase())
    if (site) sites.set(server.fqdn.toLowerCase(), site)
  }
  return sites
}

/** Whether `event` passes the query's filters (the type is the subject's business). */
export function matchesQuery(
  event: EventEnvelope,
  query: EventQuery,
  sites: ReadonlyMap<string, string>,
): boolean {
  const data = (event.data ?? {}) as Record<string, unknown>
  if (query.account && lower(data.account) !== query.account.toLowerCase()) return false
  const server = lower(data.server)
  if (query.server && server !== query.server.toLowerCase()) return false
  if (query.site) {
    const pool = data.pool
    const named = [
      lower(data.site),
      server && sites.get(server),
      typeof pool === 'string' ? sites.get(pool.toLowerCase()) : lower((pool as { site?: unknown })?.site),
    ]
    if (!named.includes(query.site.toLowerCase())) return false
  }
  return true
}
