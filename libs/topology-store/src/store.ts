import { randomUUID } from 'node:crypto'
import { type KV, toBusError } from '@krbfleet/bus'
import {
  buckets,
  codec,
  ErrorCode,
  emptyTopology,
  KrbfleetError,
  TerminalError,
  TopologyDocument,
  TopologyRevision,
} from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'
import { applyDelta, deltaBetween, deltaCodec, type TopologyDelta } from './delta.ts'

/**
 * The topology in the JetStream KV bucket `buckets.topology`. The key layout is known here only, so
 * that the topology service (the writer), spn-sync and the account service (readers) cannot drift
 * apart, and so that a change of layout is a change of this file:
 *   `log.<n>`      change n of the draft (n = 1, 2, ...): `{writer, delta}`, the entities it put
 *                  and deleted (delta.ts) and who wrote it, created once. The draft at n is the
 *                  fold of changes 1..n, so one change writes one small record whatever the size of
 *                  the fleet, and an agent's enrolment never rewrites the topology (issue 16).
 *                  Creating `log.<n+1>` is the compare-and-set: of two writers who read change n,
 *                  one creates it and the other finds the key taken.
 *   `part.<n>.<id>.<i>` a change too large for one value (an apply of thousands of servers) is
 *                  stored in parts, written before `log.<n>` names them as `{writer, parts}`.
 *   `enabled`      the number of the latest enabled revision (absent before the first enable),
 *                  written after its snapshot
 *   `revision.<n>` `{revision, enabledAt, enabledBy, draft}`: enabled revision n is the draft as of
 *                  change `draft`, one consistent snapshot, written once with create()
 *   `published`    `{draft, enabled}`: how far the topology service has published the events
 *   `snapshot`     `{draft, parts}`: the whole draft as of change `draft` (parts in
 *                  `snapshot-part.<draft>.<id>.<i>`), written when an enable finds the last one
 *                  SNAPSHOT_EVERY changes old, so that a reader that starts cold folds the changes
 *                  after it, not the whole log; the parts of the one it replaces are purged.
 * The single-document layout before it (`draft` holding the whole TopologyDocument, revisions
 * holding whole documents) is still read: such a `draft` is the state the log starts from, at its
 * KV revision, so that the numbers and the publication mark carry on.
 *
 * Every value is validated when it is read, here and nowhere else. Changes are immutable once
 * written, so each store keeps a few folded states and reads only the changes after them.
 * A NATS failure is a KrbfleetError (`toBusError`), so that each caller can decide on retrying by
 * its code.
 */
const keys = {
  change: (n: number) => `log.${n}`,
  part: (n: number, id: string, i: number) => `part.${n}.${id}.${i}`,
  snapshot: 'snapshot',
  snapshotPart: (n: number, id: string, i: number) => `snapshot-part.${n}.${id}.${i}`,
  legacyDraft: 'draft',
  enabled: 'enabled',
  revision: (n: number) => `revision.${n}`,
  published: 'published',
} as const

/** Characters of one part: at most 3 bytes each in UTF-8, well inside the bucket's 1 MiB values. */
const PART_CHARS = 256 * 1024
/** Changes read at once when folding forward. */
const READ_WINDOW = 256
/** Folded states kept per store: the draft, the enabled revision and a few before them. */
const KEPT_STATES = 8
/** Changes after the last snapshot that make an enable write a new one. */
const SNAPSHOT_EVERY = 256

const PartsRef = Type.Object(
  { id: Type.String({ pattern: '^[0-9a-f-]{36}$' }), count: Type.Integer({ minimum: 1, maximum: 4096 }) },
  { additionalProperties: false },
)
const SnapshotRecord = Type.Object(
  { draft: Type.Integer({ minimum: 0 }), parts: PartsRef },
  { additionalProperties: false },
)
const snapshotCodec = codec(SnapshotRecord, 'stored topology snapshot')

const PublishedMark = Type.Object({
  draft: Type.Integer({ minimum: 0 }),
  enabled: Type.Integer({ minimum: 0 }),
})
/** The latest draft revision and enabled revision whose events are published. */
export type PublishedMark = Static<typeof PublishedMark>
const publishedCodec = codec(PublishedMark, 'stored publication mark')

const DraftWriter = Type.Object(
  {
    actor: Type.String({ minLength: 1, maxLength: 256 }),
    correlationId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
)
/** Who wrote a draft version: the actor and correlation id of the change. */
export type DraftWriter = Static<typeof DraftWriter>
const writerCodec = codec(DraftWriter, 'stored draft writer')

const ChangeRecord = Type.Union([
  Type.Object({ writer: DraftWriter, delta: Type.Unknown() }, { additionalProperties: false }),
  Type.Object({ writer: DraftWriter, parts: PartsRef }, { additionalProperties: false }),
])
const changeCodec = codec(ChangeRecord, 'stored topology change')

const RevisionPointer = Type.Object(
  {
    revision: Type.Integer({ minimum: 1 }),
    enabledAt: Type.String({ format: 'date-time' }),
    enabledBy: Type.String({ minLength: 1 }),
    /** The draft change whose state this revision is. */
    draft: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
/** What enabling writes: revision n is the draft as of change `draft`. */
export type RevisionPointer = Static<typeof RevisionPointer>
const pointerCodec = codec(RevisionPointer, 'stored topology revision')
const legacyRevisionCodec = codec(TopologyRevision, 'stored topology revision')
const documentCodec = codec(TopologyDocument, 'stored topology draft')
const enabledCodec = codec(Type.Integer({ minimum: 1 }), 'stored enabled revision number')

/** The draft and the version to pass to {@link TopologyStore.updateDraft} (0: never written). */
export interface StoredDraft {
  topology: TopologyDocument
  revision: number
}

/** The latest enabled revision number (0: none yet) and the version of that number, for updates. */
export interface EnabledNumber {
  enabled: number
  revision: number
}

/** One change of the draft, with the states on either side of it. */
export interface DraftChange {
  revision: number
  before: TopologyDocument
  after: TopologyDocument
  writer: DraftWriter
  created: Date
}

/** The compare-and-set lost: someone wrote the key since it was read. */
export class StaleRevision extends Error {
  constructor(key: string, cause?: unknown) {
    super(`${key} changed since it was read`, cause === undefined ? undefined : { cause })
    this.name = 'StaleRevision'
  }
}

interface State {
  revision: number
  topology: TopologyDocument
}

interface StoredChange {
  revision: number
  delta: TopologyDelta
  writer: DraftWriter
  created: Date
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** JetStream "wrong last sequence" (10071) on update, or "key exists" on create. */
function isCasFailure(err: unknown): boolean {
  const code = (err as { code?: unknown; api_error?: { err_code?: number } })?.code
  if (code === 10071 || code === '10071') return true
  if ((err as { api_error?: { err_code?: number } })?.api_error?.err_code === 10071) return true
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message)
}

/** A stored value as JSON, or undefined for a deleted or empty key. */
function parseStored(key: string, entry: { operation: string; value: Uint8Array }): unknown {
  if (entry.operation !== 'PUT' || entry.value.length === 0) return undefined
  try {
    return JSON.parse(decoder.decode(entry.value))
  } catch (err) {
    throw new TerminalError(`the stored ${key} is not JSON`, { cause: err })
  }
}

/** A legacy `draft` was `{topology, writer}` or a bare TopologyDocument. */
function decodeLegacyDraft(value: unknown): TopologyDocument {
  if (typeof value === 'object' && value !== null && 'topology' in value && 'writer' in value) {
    return documentCodec.decode(value.topology)
  }
  return documentCodec.decode(value)
}

function chunks(text: string, size: number): string[] {
  const out: string[] = []
  for (let at = 0; at < text.length; at += size) out.push(text.slice(at, at + size))
  return out
}

export class TopologyStore {
  readonly #kv: KV
  /** Folded states by change number, most recently used last. */
  readonly #states = new Map<number, TopologyDocument>()
  #base: Promise<State> | undefined
  #snapshotBase: Promise<State | undefined> | undefined

  constructor(kv: KV) {
    this.#kv = kv
  }

  /** The bucket to open with `bus.kv()` for the constructor. */
  static readonly bucket = buckets.topology

  async #entry(key: string): Promise<Awaited<ReturnType<KV['get']>>> {
    try {
      return await this.#kv.get(key)
    } catch (err) {
      throw toBusError(err, 'topology bucket read')
    }
  }

  async #get(key: string): Promise<{ value: unknown; revision: number } | undefined> {
    const entry = await this.#entry(key)
    if (entry === null) return undefined
    const value = parseStored(key, entry)
    return value === undefined ? undefined : { value, revision: entry.revision }
  }

  async #write(key: string, value: string, expectedRevision: number): Promise<number> {
    const data = encoder.encode(value)
    try {
      return expectedRevision === 0
        ? await this.#kv.create(key, data)
        : await this.#kv.update(key, data, expectedRevision)
    } catch (err) {
      if (isCasFailure(err)) throw new StaleRevision(key, err)
      // The cause goes into the message too: a caller that logs only the message still says why.
      const why = err instanceof Error ? err.message : String(err)
      throw new KrbfleetError(
        ErrorCode.Unavailable,
        `could not write the topology ${key} (${data.length} bytes): ${why}`,
        {
          cause: err,
        },
      )
    }
  }

  /** Where the log starts: the empty topology at 0, or a draft of the single-document layout. */
  #start(): Promise<State> {
    this.#base ??= (async () => {
      const legacy = await this.#get(keys.legacyDraft)
      return legacy
        ? { revision: legacy.revision, topology: decodeLegacyDraft(legacy.value) }
        : { revision: 0, topology: emptyTopology() }
    })()
    this.#base.catch(() => {
      this.#base = undefined
    })
    return this.#base
  }

  /**
   * The last snapshot, read once per store: where a store that starts cold begins its fold (when
   * it is not past the state asked for). None before the first.
   */
  #snapshot(): Promise<State | undefined> {
    this.#snapshotBase ??= (async () => {
      const found = await this.#get(keys.snapshot)
      if (!found) return undefined
      const { draft, parts } = snapshotCodec.decode(found.value)
      const value = await this.#readParts(keys.snapshot, parts, (i) => keys.snapshotPart(draft, parts.id, i))
      return { revision: draft, topology: documentCodec.decode(value) }
    })()
    this.#snapshotBase.catch(() => {
      this.#snapshotBase = undefined
    })
    return this.#snapshotBase
  }

  /** A text too large for one value, written in parts under a fresh id (two racing writers never share one). */
  async #writeParts(
    key: (id: string, i: number) => string,
    text: string,
  ): Promise<{ id: string; count: number }> {
    const id = randomUUID()
    const parts = chunks(text, PART_CHARS)
    await Promise.all(parts.map((part, i) => this.#write(key(id, i), part, 0)))
    return { id, count: parts.length }
  }

  /** The JSON of `whose` parts, joined and parsed. */
  async #readParts(whose: string, parts: { count: number }, key: (i: number) => string): Promise<unknown> {
    const texts = await Promise.all(
      Array.from({ length: parts.count }, async (_, i) => {
        const part = await this.#entry(key(i))
        if (part?.operation !== 'PUT') {
          throw new TerminalError(`the stored ${whose} names part ${i} of ${parts.count}, which is missing`)
        }
        return decoder.decode(part.value)
      }),
    )
    try {
      return JSON.parse(texts.join(''))
    } catch (err) {
      throw new TerminalError(`the parts of the stored ${whose} are not JSON`, { cause: err })
    }
  }

  /** Removes parts with their history (a failed or replaced snapshot's). */
  async #purgeParts(parts: { count: number }, key: (i: number) => string): Promise<void> {
    try {
      await Promise.all(Array.from({ length: parts.count }, (_, i) => this.#kv.purge(key(i))))
    } catch (err) {
      throw toBusError(err, 'topology bucket purge')
    }
  }

  /** One change, or null when it is not written (yet). */
  async #readChange(n: number): Promise<StoredChange | null> {
    const key = keys.change(n)
    const entry = await this.#entry(key)
    const value = entry === null ? undefined : parseStored(key, entry)
    if (entry === null || value === undefined) return null
    const record = changeCodec.decode(value)
    const delta =
      'parts' in record
        ? await this.#readParts(key, record.parts, (i) => keys.part(n, record.parts.id, i))
        : record.delta
    return { revision: n, delta: deltaCodec.decode(delta), writer: record.writer, created: entry.created }
  }

  /**
   * The changes after `from`, in order, up to `to` (which must all exist) or, without `to`, up to the
   * first change not yet written. Up to READ_WINDOW are read at once; looking for the end, the
   * window starts at one and doubles, so that a store already at the head pays one read.
   */
  async *#changesAfter(from: number, to?: number): AsyncGenerator<StoredChange> {
    let window = to === undefined ? 1 : READ_WINDOW
    for (let next = from + 1; to === undefined || next <= to; window = Math.min(READ_WINDOW, window * 2)) {
      const count = to === undefined ? window : Math.min(window, to - next + 1)
      const read = await Promise.all(Array.from({ length: count }, (_, i) => this.#readChange(next + i)))
      for (const change of read) {
        if (change === null) {
          if (to === undefined) return
          throw new KrbfleetError(
            ErrorCode.Unavailable,
            `topology change ${next} is not in the store, though change ${to} is needed`,
          )
        }
        yield change
        next++
      }
    }
  }

  /**
   * The nearest folded state at or before `n`: one this store keeps; else, cold, the last snapshot
   * when it is not past `n`; else the start of the log.
   */
  async #nearest(n: number | undefined): Promise<State> {
    let best: number | undefined
    for (const revision of this.#states.keys()) {
      if ((n === undefined || revision <= n) && (best === undefined || revision > best)) best = revision
    }
    const start = await this.#start()
    if (best !== undefined && best >= start.revision)
      return { revision: best, topology: this.#states.get(best)! }
    const snapshot = await this.#snapshot()
    if (snapshot && snapshot.revision >= start.revision && (n === undefined || snapshot.revision <= n))
      return snapshot
    return start
  }

  #keep(state: State): void {
    this.#states.delete(state.revision)
    this.#states.set(state.revision, state.topology)
    while (this.#states.size > KEPT_STATES) this.#states.delete(this.#states.keys().next().value!)
  }

  /** The draft as of change `n`, or the latest draft without `n`. */
  async #stateAt(n?: number): Promise<State> {
    let state = await this.#nearest(n)
    if (n !== undefined && n < state.revision) {
      throw new KrbfleetError(
        ErrorCode.NotFound,
        `topology change ${n} is older than where this store's log starts (${state.revision})`,
      )
    }
    for await (const change of this.#changesAfter(state.revision, n)) {
      state = { revision: change.revision, topology: applyDelta(state.topology, change.delta) }
    }
    this.#keep(state)
    return state
  }

  /** The draft and its revision (0: never written, the empty topology). */
  async readDraft(): Promise<StoredDraft> {
    return this.#stateAt()
  }

  /**
   * Writes the draft, with who wrote it, if it is still at `expectedRevision`; returns the new
   * revision. Only what changed since `expectedRevision` is stored. StaleRevision when it moved on.
   */
  async updateDraft(
    topology: TopologyDocument,
    expectedRevision: number,
    writer: DraftWriter,
  ): Promise<number> {
    const before = await this.#stateAt(expectedRevision)
    const delta = deltaBetween(before.topology, topology)
    const n = expectedRevision + 1
    const text = JSON.stringify(delta)
    const who = writerCodec.decode(writer)
    const record =
      text.length <= PART_CHARS
        ? { writer: who, delta }
        : { writer: who, parts: await this.#writeParts((id, i) => keys.part(n, id, i), text) }
    await this.#write(keys.change(n), JSON.stringify(record), 0)
    this.#keep({ revision: n, topology: applyDelta(before.topology, delta) })
    return n
  }

  /** The draft's changes after `revision`, oldest first, each with the states on either side. */
  async *changesAfter(revision: number): AsyncGenerator<DraftChange> {
    let state = await this.#stateAt(revision)
    for await (const change of this.#changesAfter(revision)) {
      const after = applyDelta(state.topology, change.delta)
      yield {
        revision: change.revision,
        before: state.topology,
        after,
        writer: change.writer,
        created: change.created,
      }
      state = { revision: change.revision, topology: after }
    }
    this.#keep(state)
  }

  /**
   * Writes the draft as of change `draft` whole, if the last snapshot is SNAPSHOT_EVERY changes
   * older (or there is none and the log is that long), and purges the one it replaces: a reader
   * that starts cold then folds at most that many changes. The topology service calls it as it
   * enables, before the revision. Returns whether it wrote one; a concurrent snapshot wins (false).
   */
  async snapshot(draft: number): Promise<boolean> {
    const current = await this.#get(keys.snapshot)
    const last = current ? snapshotCodec.decode(current.value) : undefined
    if (draft - (last?.draft ?? 0) < SNAPSHOT_EVERY) return false
    const { topology } = await this.#stateAt(draft)
    const parts = await this.#writeParts((id, i) => keys.snapshotPart(draft, id, i), JSON.stringify(topology))
    try {
      await this.#write(keys.snapshot, JSON.stringify({ draft, parts }), current?.revision ?? 0)
    } catch (err) {
      await this.#purgeParts(parts, (i) => keys.snapshotPart(draft, parts.id, i))
      if (err instanceof StaleRevision) return false
      throw err
    }
    if (last) await this.#purgeParts(last.parts, (i) => keys.snapshotPart(last.draft, last.parts.id, i))
    return true
  }

  /** The latest enabled revision number (0: none yet) and its version. */
  async readEnabledNumber(): Promise<EnabledNumber> {
    const found = await this.#get(keys.enabled)
    return found
      ? { enabled: enabledCodec.decode(found.value), revision: found.revision }
      : { enabled: 0, revision: 0 }
  }

  /**
   * Makes `enabled` the latest enabled revision if the number is still at `expectedRevision` (from
   * readEnabledNumber); its snapshot must be created first. StaleRevision when it moved on.
   */
  updateEnabledNumber(enabled: number, expectedRevision: number): Promise<number> {
    return this.#write(keys.enabled, JSON.stringify(enabled), expectedRevision)
  }

  /** One enabled revision's snapshot, or null when it is not (or no longer) stored. */
  async readRevision(n: number): Promise<TopologyRevision | null> {
    const found = await this.#get(keys.revision(n))
    if (!found) return null
    if (typeof found.value === 'object' && found.value !== null && 'topology' in found.value) {
      return legacyRevisionCodec.decode(found.value)
    }
    const { draft, ...rest } = pointerCodec.decode(found.value)
    return { ...rest, topology: (await this.#stateAt(draft)).topology }
  }

  /** Records revision n as the draft at change `draft`, once; StaleRevision when n already exists. */
  async createRevision(revision: RevisionPointer): Promise<void> {
    await this.#write(keys.revision(revision.revision), JSON.stringify(pointerCodec.decode(revision)), 0)
  }

  /**
   * The latest enabled revision, or null before the first enable. Read on every call (only the
   * changes since the last read are fetched): a reader must act on the latest enable.
   */
  async readEnabled(): Promise<TopologyRevision | null> {
    const { enabled } = await this.readEnabledNumber()
    if (enabled === 0) return null
    const snapshot = await this.readRevision(enabled)
    if (snapshot === null) {
      // The number is written after the snapshot: a missing snapshot is a transient state or a
      // damaged store. Retry rather than act on nothing.
      throw new KrbfleetError(
        ErrorCode.Unavailable,
        `topology revision ${enabled} is enabled but its snapshot ${keys.revision(enabled)} is not in the store`,
      )
    }
    return snapshot
  }

  /** How far events are known to be published; `exists` false before the first mark. */
  async readPublished(): Promise<PublishedMark & { exists: boolean }> {
    const found = await this.#get(keys.published)
    return found
      ? { ...publishedCodec.decode(found.value), exists: true }
      : { draft: 0, enabled: 0, exists: false }
  }

  /** Moves the mark forward (never back), with compare-and-set against concurrent markers. */
  async markPublished(mark: Partial<PublishedMark>): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const found = await this.#get(keys.published)
      const current = found ? publishedCodec.decode(found.value) : { draft: 0, enabled: 0 }
      const next = {
        draft: Math.max(current.draft, mark.draft ?? 0),
        enabled: Math.max(current.enabled, mark.enabled ?? 0),
      }
      if (found && next.draft === current.draft && next.enabled === current.enabled) return
      try {
        await this.#write(keys.published, JSON.stringify(next), found?.revision ?? 0)
        return
      } catch (err) {
        if (!(err instanceof StaleRevision)) throw err
      }
    }
  }
}
