import { randomUUID } from 'node:crypto'
import Type, { type Static, type TSchema } from 'typebox'
import { agentToken } from './server-token.ts'
import { type Codec, codec } from './validation.ts'

/**
 * Every event travels in one envelope. `type` is versioned (`krbfleet.topology.SiteAdded.v1`); a
 * breaking change of `data` makes a new version, and consumers decode the versions they know.
 */
export const EnvelopeFields = {
  id: Type.String({ minLength: 1, maxLength: 64 }),
  occurredAt: Type.String({ format: 'date-time' }),
  /** Who caused it: `user:<name>`, `token:<name>`, `service:<name>`, `agent:<server>`. */
  actor: Type.String({ minLength: 1, maxLength: 256 }),
  /** Shared by all events of one operator action (a rotation, an enable). */
  correlationId: Type.String({ minLength: 1, maxLength: 64 }),
  /** The id of the event or request that caused this one; null for a root cause. */
  causationId: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()]),
}

export interface EventEnvelope<T extends string = string, D = unknown> {
  id: string
  type: T
  occurredAt: string
  actor: string
  correlationId: string
  causationId: string | null
  data: D
}

export interface EventMeta {
  actor: string
  correlationId?: string
  causationId?: string | null
  /** Deterministic ids make a retried publish a duplicate that JetStream drops (STYLE rule 5). */
  id?: string
  occurredAt?: string
}

export interface EventDefinition<T extends string, S extends TSchema> {
  readonly type: T
  readonly domain: string
  readonly name: string
  readonly version: number
  /**
   * The JetStream subject this event is published on; for an event published per server (the
   * agents' reports), the subject's root: `subjectOf(data)` appends the server's token.
   */
  readonly subject: string
  /**
   * The subject of one event: `subject`, or `subject.<agentToken(data.server)>` for an event defined
   * per server (`krbfleet.events.agent.AgentHeartbeat.<server>`).
   */
  subjectOf(data: Static<S>): string
  /** The subject filter of every event of this type: `subject`, or `subject.*` for one defined per server. */
  readonly subjects: string
  readonly data: S
  readonly envelope: Codec<TSchema>
  create(data: Static<S>, meta: EventMeta): EventEnvelope<T, Static<S>>
  /** The envelope typed, or a ValidationError naming the field. */
  decode(value: unknown): EventEnvelope<T, Static<S>>
  is(envelope: EventEnvelope): envelope is EventEnvelope<T, Static<S>>
}

export const EVENTS_SUBJECT_ROOT = 'krbfleet.events'
/**
 * Agents' heartbeats: a stream of their own with short retention, the latest per server (storage.ts
 * `streams.heartbeats`), never in the 90-day events stream (issue 16).
 */
export const HEARTBEATS_SUBJECT_ROOT = 'krbfleet.heartbeats'

export function defineEvent<
  const D extends string,
  const N extends string,
  const V extends number,
  S extends TSchema,
>(
  domain: D,
  name: N,
  version: V,
  data: S,
  options: { perServer?: boolean; subjectRoot?: string } = {},
): EventDefinition<`krbfleet.${D}.${N}.v${V}`, S> {
  const type = `krbfleet.${domain}.${name}.v${version}` as const
  const subject = `${options.subjectRoot ?? EVENTS_SUBJECT_ROOT}.${domain}.${name}`
  const schema = Type.Object(
    { ...EnvelopeFields, type: Type.Literal(type), data },
    { additionalProperties: false },
  )
  const envelope = codec(schema, `${name} event`)
  return {
    type,
    domain,
    name,
    version,
    subject,
    subjects: options.perServer ? `${subject}.*` : subject,
    subjectOf: (value) =>
      options.perServer ? `${subject}.${agentToken((value as { server: string }).server)}` : subject,
    data,
    envelope,
    create(value, meta) {
      const id = meta.id ?? randomUUID()
      return {
        id,
        type,
        occurredAt: meta.occurredAt ?? new Date().toISOString(),
        actor: meta.actor,
        correlationId: meta.correlationId ?? id,
        causationId: meta.causationId ?? null,
        data: value,
      }
    },
    decode: (value) => envelope.decode(value) as unknown as EventEnvelope<typeof type, Static<S>>,
    is: (e): e is EventEnvelope<typeof type, Static<S>> => e.type === type,
  }
}

/** The fields common to every envelope, to read `type` before choosing a decoder. */
export const AnyEnvelope = codec(
  Type.Object({ ...EnvelopeFields, type: Type.String({ minLength: 1 }), data: Type.Unknown() }),
  'event envelope',
)
export type AnyEnvelope = Static<typeof AnyEnvelope.schema>
