import type { KV } from '@krbfleet/bus'
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
 * The topology in the JetStream KV bucket `buckets.topology`:
 *   `draft`        `{topology, writer}`: the TopologyDocument being edited and who wrote this
 *                  version (actor, correlation id), so that events rebuilt from the history after
 *                  a crash name the real actor (a bare TopologyDocument, the older form, is read too)
 *   `enabled`      the number of the latest enabled revision (absent before the first enable)
 *   `revision.<n>` TopologyRevision snapshots, written once with create()
 * Every write is a compare-and-set on the KV revision (STYLE rule 5), so two writers never lose
 * an update: the loser gets a {@link StaleRevision} and starts over from fresh state.
 */

export const TopologyKeys = {
  draft: 'draft',
  enabled: 'enabled',
  revision: (n: number) => `revision.${n}`,
  /** `{draft, enabled}`: the latest draft revision and enabled revision whose events are published. */
  published: 'published',
} as const

const PublishedMark = Type.Object({
  draft: Type.Integer({ minimum: 0 }),
  enabled: Type.Integer({ minimum: 0 }),
})
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

export interface DraftVersion {
  /** undefined for a deleted draft. */
  topology: TopologyDocument | undefined
  /** undefined for a deleted draft or one stored before writers were recorded. */
  writer: DraftWriter | undefined
  revision: number
  created: Date
}

/** The stored draft: `{topology, writer}`, or a bare TopologyDocument written by an older version. */
function decodeDraft(value: unknown): { topology: TopologyDocument; writer: DraftWriter | undefined } {
  if (typeof value === 'object' && value !== null && 'topology' in value && 'writer' in value) {
    return { topology: draftCodec.decode(value.topology), writer: writerCodec.decode(value.writer) }
  }
  return { topology: draftCodec.decode(value), writer: undefined }
}

/** The compare-and-set lost: someone wrote the key since it was read. */
export class StaleRevision extends Error {
  constructor(key: string, cause?: unknown) {
    super(`${key} changed since it was read`, cause === undefined ? undefined : { cause })
    this.name = 'StaleRevision'
  }
}

const draftCodec = codec(TopologyDocument, 'stored topology draft')
const revisionCodec = codec(TopologyRevision, 'stored topology revision')
const pointerCodec = codec(Type.Integer({ minimum: 1 }), 'stored enabled revision number')
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** JetStream "wrong last sequence" (10071) on update, or "key exists" on create. */
function isCasFailure(err: unknown): boolean {
  const code = (err as { code?: unknown; api_error?: { err_code?: number } })?.code
  if (code === 10071 || code === '10071') return true
  if ((err as { api_error?: { err_code?: number } })?.api_error?.err_code === 10071) return true
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message)
}

export class TopologyStore {
  readonly kv: KV

  constructor(kv: KV) {
    this.kv = kv
  }

  static readonly bucket = buckets.topology

  async #get(key: string): Promise<{ value: unknown; revision: number } | undefined> {
    const entry = await this.kv.get(key)
    if (entry?.operation !== 'PUT' || entry.value.length === 0) return undefined
    let value: unknown
    try {
      value = JSON.parse(decoder.decode(entry.value))
    } catch (err) {
      throw new TerminalError(`the stored ${key} is not JSON`, { cause: err })
    }
    return { value, revision: entry.revision }
  }

  async #write(key: string, value: unknown, expectedRevision: number): Promise<number> {
    const data = encoder.encode(JSON.stringify(value))
    try {
      return expectedRevision === 0
        ? await this.kv.create(key, data)
        : await this.kv.update(key, data, expectedRevision)
    } catch (err) {
      if (isCasFailure(err)) throw new StaleRevision(key, err)
      throw new KrbfleetError(ErrorCode.Unavailable, `could not write the topology ${key}`, { cause: err })
    }
  }

  /** The draft and its KV revision (0: never written, the empty topology). */
  async readDraft(): Promise<{ topology: TopologyDocument; revision: number }> {
    const found = await this.#get(TopologyKeys.draft)
    return found
      ? { topology: decodeDraft(found.value).topology, revision: found.revision }
      : { topology: emptyTopology(), revision: 0 }
  }

  /**
   * Writes the draft, with who wrote it, if it is still at `expectedRevision`; returns the new
   * revision.
   */
  writeDraft(topology: TopologyDocument, expectedRevision: number, writer: DraftWriter): Promise<number> {
    return this.#write(TopologyKeys.draft, { topology, writer: writerCodec.decode(writer) }, expectedRevision)
  }

  /** The latest enabled revision number (0: none yet) and the KV revision of the pointer. */
  async readEnabled(): Promise<{ enabled: number; revision: number }> {
    const found = await this.#get(TopologyKeys.enabled)
    return found
      ? { enabled: pointerCodec.decode(found.value), revision: found.revision }
      : { enabled: 0, revision: 0 }
  }

  writeEnabled(enabled: number, expectedRevision: number): Promise<number> {
    return this.#write(TopologyKeys.enabled, enabled, expectedRevision)
  }

  async readRevision(n: number): Promise<TopologyRevision | undefined> {
    const found = await this.#get(TopologyKeys.revision(n))
    return found ? revisionCodec.decode(found.value) : undefined
  }

  /** Every stored version of the draft still in the bucket's history, oldest first. */
  async draftHistory(): Promise<DraftVersion[]> {
    const out: DraftVersion[] = []
    const entries = await this.kv.history({ key: TopologyKeys.draft })
    for await (const entry of entries) {
      const stored =
        entry.operation === 'PUT' && entry.value.length > 0
          ? decodeDraft(JSON.parse(decoder.decode(entry.value)))
          : undefined
      out.push({
        topology: stored?.topology,
        writer: stored?.writer,
        revision: entry.revision,
        created: entry.created,
      })
    }
    return out.sort((a, b) => a.revision - b.revision)
  }

  /** How far events are known to be published; `exists` false before the first mark. */
  async readPublished(): Promise<PublishedMark & { exists: boolean }> {
    const found = await this.#get(TopologyKeys.published)
    return found
      ? { ...publishedCodec.decode(found.value), exists: true }
      : { draft: 0, enabled: 0, exists: false }
  }

  /** Moves the mark forward (never back), with compare-and-set against concurrent markers. */
  async markPublished(mark: Partial<PublishedMark>): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const found = await this.#get(TopologyKeys.published)
      const current = found ? publishedCodec.decode(found.value) : { draft: 0, enabled: 0 }
      const next = {
        draft: Math.max(current.draft, mark.draft ?? 0),
        enabled: Math.max(current.enabled, mark.enabled ?? 0),
      }
      if (found && next.draft === current.draft && next.enabled === current.enabled) return
      try {
        await this.#write(TopologyKeys.published, next, found?.revision ?? 0)
        return
      } catch (err) {
        if (!(err instanceof StaleRevision)) throw err
      }
    }
  }

  /** Writes a revision snapshot once; StaleRevision when `revision.<n>` already exists. */
  async createRevision(revision: TopologyRevision): Promise<void> {
    await this.#write(TopologyKeys.revision(revision.revision), revision, 0)
  }
}
