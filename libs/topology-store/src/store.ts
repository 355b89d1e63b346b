import { type KV, toBusError } from '@krbfleet/bus'
import {
  buckets,
  codec,
  ErrorCode,
  KrbfleetError,
  TerminalError,
  TopologyDocument,
  TopologyRevision,
  emptyTopology,
} from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'

/**
 * The topology in the JetStream KV bucket `buckets.topology`. The key layout is known here only, so
 * that the topology service (the writer), spn-sync and the account service (readers) cannot drift
 * apart, and so that a change of layout is a change of this file:
 *   `draft`        `{topology, writer}`: the TopologyDocument being edited and who wrote this
 *                  version (actor, correlation id), so that events rebuilt from the history after
 *                  a crash name the real actor. A bare TopologyDocument is read too (a version
 *                  without its writer), so that such a bucket stays readable.
 *   `enabled`      the number of the latest enabled revision (absent before the first enable),
 *                  written after its snapshot
 *   `revision.<n>` TopologyRevision snapshots, written once with create()
 *   `published`    `{draft, enabled}`: how far the topology service has published the events
 * Every value is validated when it is read, here and nowhere else. Every write is a compare-and-set
 * on the KV revision (STYLE rule 5), so two writers never lose an update: the loser gets a
 * {@link StaleRevision} and starts over from fresh state. A NATS failure is a KrbfleetError
 * (`toBusError`), so that each caller can decide on retrying by its code.
 */
const keys = {
  draft: 'draft',
  enabled: 'enabled',
  revision: (n: number) => `revision.${n}`,
  published: 'published',
} as const

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

const draftCodec = codec(TopologyDocument, 'stored topology draft')
const revisionCodec = codec(TopologyRevision, 'stored topology revision')
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

export interface DraftVersion {
  /** undefined for a deleted draft. */
  topology: TopologyDocument | undefined
  /** undefined for a deleted draft or one stored without its writer. */
  writer: DraftWriter | undefined
  revision: number
  created: Date
}

export interface DraftHistory {
  /** Every stored version of the draft still kept, oldest first. */
  versions: DraftVersion[]
  /** True when `versions` reaches back to the very first draft (fewer than the bucket keeps). */
  complete: boolean
}

/** The compare-and-set lost: someone wrote the key since it was read. */
export class StaleRevision extends Error {
  constructor(key: string, cause?: unknown) {
    super(`${key} changed since it was read`, cause === undefined ? undefined : { cause })
    this.name = 'StaleRevision'
  }
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

function decodeDraft(value: unknown): { topology: TopologyDocument; writer: DraftWriter | undefined } {
  if (typeof value === 'object' && value !== null && 'topology' in value && 'writer' in value) {
    return { topology: draftCodec.decode(value.topology), writer: writerCodec.decode(value.writer) }
  }
  return { topology: draftCodec.decode(value), writer: undefined }
}

export class TopologyStore {
  readonly #kv: KV

  constructor(kv: KV) {
    this.#kv = kv
  }

  /** The bucket to open with `bus.kv()` for the constructor. */
  static readonly bucket = buckets.topology

  async #get(key: string): Promise<{ value: unknown; revision: number } | undefined> {
    let entry: Awaited<ReturnType<KV['get']>>
    try {
      entry = await this.#kv.get(key)
    } catch (err) {
      throw toBusError(err, 'topology bucket read')
    }
    if (entry === null) return undefined
    const value = parseStored(key, entry)
    return value === undefined ? undefined : { value, revision: entry.revision }
  }

  async #write(key: string, value: unknown, expectedRevision: number): Promise<number> {
    const data = encoder.encode(JSON.stringify(value))
    try {
      return expectedRevision === 0
        ? await this.#kv.create(key, data)
        : await this.#kv.update(key, data, expectedRevision)
    } catch (err) {
      if (isCasFailure(err)) throw new StaleRevision(key, err)
      throw new KrbfleetError(ErrorCode.Unavailable, `could not write the topology ${key}`, { cause: err })
    }
  }

  /** The draft and its revision (0: never written, the empty topology). */
  async readDraft(): Promise<StoredDraft> {
    const found = await this.#get(keys.draft)
    return found
      ? { topology: decodeDraft(found.value).topology, revision: found.revision }
      : { topology: emptyTopology(), revision: 0 }
  }

  /**
   * Writes the draft, with who wrote it, if it is still at `expectedRevision`; returns the new
   * revision. StaleRevision when it moved on.
   */
  updateDraft(topology: TopologyDocument, expectedRevision: number, writer: DraftWriter): Promise<number> {
    return this.#write(keys.draft, { topology, writer: writerCodec.decode(writer) }, expectedRevision)
  }

  /** Every stored version of the draft still in the bucket's history, oldest first. */
  async draftHistory(): Promise<DraftHistory> {
    const versions: DraftVersion[] = []
    try {
      for await (const entry of await this.#kv.history({ key: keys.draft })) {
        const value = parseStored(keys.draft, entry)
        const stored = value === undefined ? undefined : decodeDraft(value)
        versions.push({
          topology: stored?.topology,
          writer: stored?.writer,
          revision: entry.revision,
          created: entry.created,
        })
      }
    } catch (err) {
      throw toBusError(err, 'topology bucket read')
    }
    versions.sort((a, b) => a.revision - b.revision)
    return { versions, complete: versions.length < TopologyStore.bucket.history }
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
    return this.#write(keys.enabled, enabled, expectedRevision)
  }

  /** One enabled revision's snapshot, or null when it is not (or no longer) stored. */
  async readRevision(n: number): Promise<TopologyRevision | null> {
    const found = await this.#get(keys.revision(n))
    return found ? revisionCodec.decode(found.value) : null
  }

  /** Writes a revision snapshot once; StaleRevision when revision `n` already exists. */
  async createRevision(revision: TopologyRevision): Promise<void> {
    await this.#write(keys.revision(revision.revision), revision, 0)
  }

  /**
   * The latest enabled revision, or null before the first enable. Read on every call, never cached:
   * a reader must act on the latest enable.
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
        await this.#write(keys.published, next, found?.revision ?? 0)
        return
      } catch (err) {
        if (!(err instanceof StaleRevision)) throw err
      }
    }
  }
}
