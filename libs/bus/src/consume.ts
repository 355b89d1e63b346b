import {
  AnyEnvelope,
  ErrorCode,
  type EventDefinition,
  type EventEnvelope,
  KrbfleetError,
  streams,
  TerminalError,
  ValidationError,
} from '@krbfleet/contracts'
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiError,
  type JsMsg,
} from '@nats-io/jetstream'
import { nanos } from '@nats-io/nats-core'
import type { Logger } from 'pino'
import type { Static, TSchema } from 'typebox'
import { type BackoffPolicy, backoffDelay, sleep } from './backoff.ts'
import type { Bus } from './connect.ts'
import { toBusError } from './errors.ts'

// biome-ignore lint/suspicious/noExplicitAny: a variance-free bound for any event definition
type AnyEventDefinition = EventDefinition<string, any>

/** The envelope type of one or several event definitions. */
export type EnvelopeOf<D> =
  D extends EventDefinition<infer T, infer S extends TSchema> ? EventEnvelope<T, Static<S>> : never

export interface EventContext {
  /** Child logger carrying eventType, eventId, correlationId, seq and deliveryCount. */
  logger: Logger
  /** True when JetStream delivered this event before (a crash or a nak happened). */
  redelivered: boolean
  /** 1 on the first delivery. */
  deliveryCount: number
  /** Stream sequence of the event. */
  streamSequence: number
  subject: string
  /** Extends the ack deadline by hand (the consumer also does it every ackWait/2 while handling). */
  working(): void
}

export interface ConsumeEventsOptions<E extends readonly AnyEventDefinition[]> {
  /** Durable consumer name; replicas of one service share it and split the work. */
  durable: string
  /** One subject or wildcard (nats-server 2.9 knows a single filter subject only). */
  filterSubject: string
  /** The events this consumer handles; any other type is acked and ignored. */
  events: E
  handle(envelope: EnvelopeOf<E[number]>, ctx: EventContext): Promise<void>
  logger: Logger
  /** Stream to consume (default: the events stream of @krbfleet/contracts). */
  stream?: string
  /** How long the server waits for an ack before redelivering (ms, default 30 000). */
  ackWaitMs?: number
  /** Deliveries before a failing event is given up and terminated (default 20). */
  maxDeliver?: number
  /** Waits between naks of a retryable failure (default 500 ms doubling up to 60 s). */
  retryBackoff?: BackoffPolicy
  /**
   * Redelivery waits after missed acks, set on the consumer (`backoff`, ms). Default none: on
   * nats-server 2.9 a consumer backoff overrides the delay of every nak after the first (observed
   * on 2.9.10), which would turn a 500 ms retry into a full backoff step.
   */
  redeliveryBackoffMs?: number[]
  /** Messages pulled ahead (default 64). */
  prefetch?: number
  /**
   * Wait for the server to confirm each ack before the next event (default true). A consumer of a
   * high rate whose handler may safely see an event twice (a projection keeping the latest)
   * sets false: one message and one round trip less per event.
   */
  confirmAcks?: boolean
}

export interface EventConsumer {
  /** Stops pulling, lets the event in hand finish, resolves when the loop ended. */
  stop(): Promise<void>
  /** Resolves when the loop has ended (after stop(), or when the connection was closed). */
  readonly done: Promise<void>
}

const defaultRetryBackoff: BackoffPolicy = { initialMs: 500, maxMs: 60_000 }

/** The consumer configuration consumeEvents creates (exported for tests and the docs). */
export function consumerConfig(options: {
  durable: string
  filterSubject: string
  ackWaitMs: number
  maxDeliver: number
  redeliveryBackoffMs: number[]
}): Partial<ConsumerConfig> {
  return {
    durable_name: options.durable,
    filter_subject: options.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(options.ackWaitMs),
    max_deliver: options.maxDeliver,
    ...(options.redeliveryBackoffMs.length > 0 ? { backoff: options.redeliveryBackoffMs.map(nanos) } : {}),
    max_ack_pending: 1000,
  }
}

/** Redelivery waits for `redeliveryBackoffMs`: ackWait, then doubling, five steps capped at 10 minutes. */
export function doublingRedeliveryBackoff(ackWaitMs: number, maxDeliver: number): number[] {
  const steps = Math.min(5, maxDeliver - 1)
  return Array.from({ length: Math.max(0, steps) }, (_, i) => Math.min(ackWaitMs * 2 ** i, 600_000))
}

/**
 * A durable pull consumer on the events stream. Errors decide the ack (STYLE rule 6): success ->
 * ack; ValidationError, TerminalError or a non-retryable KrbfleetError -> term; anything else ->
 * nak with backoff until maxDeliver, then term. Malformed messages are terminated and logged, never
 * retried forever (STYLE rule 2). The loop survives reconnects and re-creates a deleted consumer.
 */
export function consumeEvents<const E extends readonly AnyEventDefinition[]>(
  bus: Bus,
  options: ConsumeEventsOptions<E>,
): EventConsumer {
  const stream = options.stream ?? streams.events.name
  const ackWaitMs = options.ackWaitMs ?? 30_000
  const maxDeliver = options.maxDeliver ?? 20
  const retryBackoff = options.retryBackoff ?? defaultRetryBackoff
  const redeliveryBackoffMs = options.redeliveryBackoffMs ?? []
  if (redeliveryBackoffMs.length >= maxDeliver) {
    throw new KrbfleetError(ErrorCode.Invalid, 'redeliveryBackoffMs: must have fewer steps than maxDeliver', {
      field: 'redeliveryBackoffMs',
    })
  }
  const wanted = consumerConfig({
    durable: options.durable,
    filterSubject: options.filterSubject,
    ackWaitMs,
    maxDeliver,
    redeliveryBackoffMs,
  })
  const byType = new Map<string, AnyEventDefinition>(options.events.map((e) => [e.type, e]))
  const logger = options.logger.child({ component: 'consumer', durable: options.durable })
  // nats-server < 2.10 only knows a bare `+TERM`: with a reason appended it ignores the term
  // (observed on 2.9.10), and the message would come back after ack_wait.
  const termTakesReason = bus.serverAtLeast('2.10.0')
  const term = (m: JsMsg, reason: string) => (termTakesReason ? m.term(reason.slice(0, 256)) : m.term())
  const abort = new AbortController()
  let messages: ConsumerMessages | undefined
  let stopped = false

  async function ensureConsumer(): Promise<void> {
    let existing: Partial<ConsumerConfig> | undefined
    try {
      existing = (await bus.jsm.consumers.info(stream, options.durable)).config
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === 10014)) throw err
    }
    if (!existing) {
      try {
        await bus.jsm.consumers.add(stream, wanted)
        logger.info({ stream, filterSubject: options.filterSubject }, 'created durable consumer')
        return
      } catch (err) {
        // A replica may have created it meanwhile; then compare below.
        existing = (await bus.jsm.consumers.info(stream, options.durable).catch(() => undefined))?.config
        if (!existing) throw err
      }
    }
    const drift = consumerDrift(wanted, existing)
    if (drift.length === 0) return
    try {
      const { durable_name: _, deliver_policy: __, ...update } = wanted
      await bus.jsm.consumers.update(stream, options.durable, update)
      logger.info({ changed: drift }, 'updated durable consumer')
    } catch (err) {
      throw new TerminalError(
        `durable consumer ${options.durable} exists with different ${drift.join(', ')} and cannot be updated: ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      )
    }
  }

  function terminate(m: JsMsg, reason: string, extra: Record<string, unknown> = {}): void {
    term(m, reason)
    logger.error(
      { seq: m.seq, subject: m.subject, deliveryCount: m.info.deliveryCount, reason, ...extra },
      'event terminated',
    )
  }

  async function processMessage(m: JsMsg): Promise<void> {
    let raw: unknown
    try {
      raw = JSON.parse(m.string())
    } catch {
      return terminate(m, 'payload is not JSON')
    }
    let envelope: EventEnvelope
    try {
      const any = AnyEnvelope.decode(raw)
      const definition = byType.get(any.type)
      if (!definition) {
        m.ack()
        logger.debug(
          { seq: m.seq, eventType: any.type },
          'ignored event of a type this consumer does not handle',
        )
        return
      }
      envelope = definition.decode(raw)
      // A per-server event names its server in the subject too; the subject is what NATS vouched for.
      if (m.subject !== definition.subjectOf(envelope.data as never)) {
        throw new ValidationError(
          [{ field: 'type', rule: `does not belong on subject ${m.subject}` }],
          'event',
        )
      }
    } catch (err) {
      return terminate(m, err instanceof Error ? err.message : String(err), {
        eventId: typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined,
      })
    }
    const deliveryCount = m.info.deliveryCount
    const ctx: EventContext = {
      logger: logger.child({
        eventType: envelope.type,
        eventId: envelope.id,
        correlationId: envelope.correlationId,
        seq: m.seq,
        deliveryCount,
      }),
      redelivered: m.redelivered,
      deliveryCount,
      streamSequence: m.seq,
      subject: m.subject,
      working: () => m.working(),
    }
    // Long handlers keep the message: without this the server would redeliver it to another replica.
    const heartbeat = setInterval(() => m.working(), Math.max(250, Math.floor(ackWaitMs / 2)))
    try {
      await options.handle(envelope as EnvelopeOf<E[number]>, ctx)
    } catch (err) {
      clearInterval(heartbeat)
      return settleFailure(m, err, ctx)
    }
    clearInterval(heartbeat)
    if (options.confirmAcks === false) {
      m.ack()
      return
    }
    try {
      if (!(await m.ackAck())) ctx.logger.warn('ack was not confirmed; the event may be redelivered')
    } catch (err) {
      // Handlers are idempotent, so a lost ack only costs a redelivery.
      ctx.logger.warn({ err: describe(err) }, 'ack was not confirmed; the event may be redelivered')
    }
  }

  function settleFailure(m: JsMsg, err: unknown, ctx: EventContext): void {
    const permanent =
      err instanceof ValidationError ||
      err instanceof TerminalError ||
      (err instanceof KrbfleetError && !err.retryable)
    if (permanent) {
      term(m, describe(err))
      ctx.logger.error({ err }, 'event handling failed permanently; terminated')
      return
    }
    if (ctx.deliveryCount >= maxDeliver) {
      term(m, `gave up after ${ctx.deliveryCount} deliveries`)
      ctx.logger.error({ err, maxDeliver }, 'event handling kept failing; gave up and terminated')
      return
    }
    const delayMs = backoffDelay(retryBackoff, ctx.deliveryCount)
    m.nak(delayMs)
    ctx.logger.warn({ err, retryInMs: delayMs }, 'event handling failed; will retry')
  }

  async function watchConsumer(current: ConsumerMessages): Promise<void> {
    for await (const status of current.status()) {
      if (
        status.type === 'consumer_deleted' ||
        (status.type === 'consumer_not_found' && status.count >= 2) ||
        status.type === 'stream_not_found'
      ) {
        logger.warn({ status: status.type }, 'consumer or stream vanished; re-creating the consumer')
        await current.close().catch(() => {})
        return
      }
      if (status.type === 'heartbeats_missed' && status.count >= 2) {
        logger.warn({ missed: status.count }, 'consumer missed heartbeats')
      }
    }
  }

  async function run(): Promise<void> {
    let failures = 0
    while (!stopped && !bus.nc.isClosed()) {
      try {
        await ensureConsumer()
        const consumer = await bus.js.consumers.get(stream, options.durable)
        messages = await consumer.consume({ max_messages: options.prefetch ?? 64 })
        if (stopped) await messages.close()
        void watchConsumer(messages).catch(() => {})
        if (failures > 0) logger.info('consumer resumed')
        failures = 0
        logger.debug({ stream, filterSubject: options.filterSubject }, 'consuming')
        for await (const m of messages) {
          if (stopped) {
            // Hand it straight back so that another replica need not wait for ack_wait.
            m.nak()
            continue
          }
          try {
            await processMessage(m)
          } catch (err) {
            // Only our own bugs land here; the message stays unacked and is redelivered after ack_wait.
            logger.error({ err, seq: m.seq }, 'unexpected failure while handling an event')
          }
        }
      } catch (err) {
        if (stopped || bus.nc.isClosed()) break
        failures++
        if (err instanceof TerminalError) {
          // Needs an operator (for example deleting a consumer whose settings cannot change); keep
          // trying so that the service heals once that is done, and say so at error level.
          logger.error({ err }, 'consumer cannot run; retrying')
        }
        const waitMs = backoffDelay({ initialMs: 250, maxMs: 10_000 }, failures)
        logger.warn({ err: toBusError(err, 'consumer').message, retryInMs: waitMs }, 'consumer interrupted')
        await sleep(waitMs, abort.signal)
        continue
      }
      if (!stopped && !bus.nc.isClosed()) {
        failures++
        await sleep(backoffDelay({ initialMs: 250, maxMs: 10_000 }, failures), abort.signal)
      }
    }
    logger.info('consumer stopped')
  }

  const done = run()
  return {
    done,
    async stop() {
      if (!stopped) {
        stopped = true
        abort.abort()
        await messages?.close().catch(() => {})
      }
      await done
    },
  }
}

/** Which settings of `wanted` differ in `actual`. Durations are compared in nanoseconds. */
export function consumerDrift(wanted: Partial<ConsumerConfig>, actual: Partial<ConsumerConfig>): string[] {
  const drift: string[] = []
  if (wanted.filter_subject !== actual.filter_subject) drift.push('filter_subject')
  if (wanted.ack_wait !== actual.ack_wait) drift.push('ack_wait')
  if (wanted.max_deliver !== actual.max_deliver) drift.push('max_deliver')
  if (wanted.max_ack_pending !== actual.max_ack_pending) drift.push('max_ack_pending')
  if (wanted.ack_policy !== actual.ack_policy) drift.push('ack_policy')
  const a = wanted.backoff ?? []
  const b = actual.backoff ?? []
  if (a.length !== b.length || a.some((v, i) => v !== b[i])) drift.push('backoff')
  return drift
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Each durable's lag on the events stream: not yet delivered, and delivered but unacknowledged. */
export async function consumerLag(
  bus: Pick<Bus, 'jsm'>,
  durables: readonly (string | { stream: string; durable: string })[],
): Promise<Array<{ durable: string; pending: number; ackPending: number }>> {
  const out: Array<{ durable: string; pending: number; ackPending: number }> = []
  for (const entry of durables) {
    // A name alone is a durable of the events stream.
    const { stream, durable } =
      typeof entry === 'string' ? { stream: streams.events.name, durable: entry } : entry
    const info = await bus.jsm.consumers.info(stream, durable).catch(() => null)
    if (info) out.push({ durable, pending: info.num_pending, ackPending: info.num_ack_pending })
  }
  return out
}
