import {
  AgentEnrolment,
  Assignment,
  codec,
  Pool,
  Server,
  Site,
  type TopologyDocument,
} from '@krbfleet/contracts'
import Type, { type Static, type TSchema } from 'typebox'

/**
 * What one change did to the topology, entity by entity: the records it put (added or replaced)
 * and the keys it deleted, per collection. A change to one server is one small delta whatever the
 * size of the fleet, so the store writes deltas, not documents (issue 16). Pure: the store's fold
 * and the unit tests share it.
 *
 * Every collection of a TopologyDocument is kept sorted by its key with unique keys (the topology
 * domain's evolve does the same), so that applying `deltaBetween(a, b)` to `a` gives exactly `b`.
 */
const collections = {
  sites: { key: (s: Site) => s.name, schema: Site },
  pools: { key: (p: Pool) => p.fqdn, schema: Pool },
  servers: { key: (s: Server) => s.fqdn, schema: Server },
  assignments: { key: (a: Assignment) => a.site, schema: Assignment },
  agents: { key: (a: AgentEnrolment) => a.server, schema: AgentEnrolment },
} as const

type Collection = keyof typeof collections
const names = Object.keys(collections) as Collection[]

const changesOf = <S extends TSchema>(schema: S) =>
  Type.Optional(
    Type.Object(
      {
        put: Type.Optional(Type.Array(schema)),
        del: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }))),
      },
      { additionalProperties: false },
    ),
  )

export const TopologyDelta = Type.Object(
  {
    sites: changesOf(Site),
    pools: changesOf(Pool),
    servers: changesOf(Server),
    assignments: changesOf(Assignment),
    agents: changesOf(AgentEnrolment),
  },
  { additionalProperties: false },
)
export type TopologyDelta = Static<typeof TopologyDelta>
export const deltaCodec = codec(TopologyDelta, 'stored topology change')

type Item = TopologyDocument[Collection][number]
type Key = (item: Item) => string

const keyOf = (name: Collection) => collections[name].key as Key
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The items of `after` that are new or differ from `before`'s of the same key, and the keys of
 * `before` that `after` lacks. Keys are unique in each list. Items the two lists share (the same
 * object) at their start and end are skipped without a look at their keys: a change that shares
 * the rest of the list (evolve, the store's fold) costs what it changed, not the fleet's size.
 */
export function keyedChanges<T>(
  before: readonly T[],
  after: readonly T[],
  key: (item: T) => string,
): { put: T[]; del: string[] } {
  let start = 0
  while (start < before.length && start < after.length && before[start] === after[start]) start++
  let end = 0
  while (
    end < before.length - start &&
    end < after.length - start &&
    before[before.length - 1 - end] === after[after.length - 1 - end]
  )
    end++
  const old = new Map<string, T>()
  for (let i = start; i < before.length - end; i++) old.set(key(before[i]!), before[i]!)
  const put: T[] = []
  for (let i = start; i < after.length - end; i++) {
    const item = after[i]!
    const k = key(item)
    const was = old.get(k)
    old.delete(k)
    if (was !== item && (was === undefined || JSON.stringify(was) !== JSON.stringify(item))) put.push(item)
  }
  return { put, del: [...old.keys()] }
}

/** The delta that turns `before` into `after`; empty collections are left out. */
export function deltaBetween(before: TopologyDocument, after: TopologyDocument): TopologyDelta {
  const delta: Record<string, { put?: Item[]; del?: string[] }> = {}
  for (const name of names) {
    if (before[name] === after[name]) continue
    const { put, del } = keyedChanges<Item>(before[name], after[name], keyOf(name))
    if (put.length > 0 || del.length > 0) {
      delta[name] = { ...(put.length > 0 ? { put } : {}), ...(del.length > 0 ? { del } : {}) }
    }
  }
  return delta as TopologyDelta
}

export function isEmptyDelta(delta: TopologyDelta): boolean {
  return names.every((name) => delta[name] === undefined)
}

/** `state` with `delta` applied; the collections it does not touch are shared, not copied. */
export function applyDelta(state: TopologyDocument, delta: TopologyDelta): TopologyDocument {
  const next = { ...state }
  for (const name of names) {
    const changes = delta[name]
    if (changes === undefined) continue
    const put = (changes.put ?? []) as Item[]
    const del = changes.del ?? []
    ;(next as Record<Collection, Item[]>)[name] = applyTo(state[name], put, del, keyOf(name))
  }
  return next
}

/** A few changes are spliced into a copy by binary search; many go through a map and one sort. */
function applyTo(items: readonly Item[], put: Item[], del: string[], key: Key): Item[] {
  if (put.length + del.length > 32) {
    const byKey = new Map(items.map((item) => [key(item), item]))
    for (const k of del) byKey.delete(k)
    for (const item of put) byKey.set(key(item), item)
    return [...byKey.values()].sort((a, b) => compare(key(a), key(b)))
  }
  const out = items.slice()
  for (const k of del) {
    const at = search(out, k, key)
    if (at.found) out.splice(at.index, 1)
  }
  for (const item of put) {
    const at = search(out, key(item), key)
    if (at.found) out[at.index] = item
    else out.splice(at.index, 0, item)
  }
  return out
}

function search(items: Item[], k: string, key: Key): { found: boolean; index: number } {
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = compare(key(items[mid]!), k)
    if (c === 0) return { found: true, index: mid }
    if (c < 0) lo = mid + 1
    else hi = mid
  }
  return { found: false, index: lo }
}
