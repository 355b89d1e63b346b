import { randomUUID } from 'node:crypto'
import {
  agentToken,
  asKrbfleetError,
  type Codec,
  ErrorCode,
  errorFromWire,
  KrbfleetError,
  type ServiceName,
  serverOfToken,
  subjects,
  ValidationError,
  type WireError,
} from '@krbfleet/contracts'
import {
  headers as natsHeaders,
  type Msg,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from '@nats-io/nats-core'
import type { Logger } from 'pino'
import type { Static, TSchema } from 'typebox'
import type { Bus } from './connect.ts'
import { toBusError } from './errors.ts'

/** Header carrying who asked (`user:alice`, `service:console`); audited by the handler. */
export const ActorHeader = 'krbfleet-actor'
/** Header carrying the correlation id shared by all events of one operator action. */
export const CorrelationIdHeader = 'krbfleet-correlation-id'
/** On each part of an answer larger than one NATS message: `<part>/<parts>` (1-based). */
export const PartHeader = 'krbfleet-part'
/**
 * The parts one answer may have: an answer beyond them (16 of nearly 1 MiB with nats-server's
 * default max_payload) is refused by name. deploy/nats lets a service answer one request this
 * many times (`allow_responses`).
 */
export const MAX_REPLY_PARTS = 16
/** Room left in each part for the headers and the protocol line. */
const PART_MARGIN = 8 * 1024

export type RpcReply<R = unknown> = { ok: true; result: R } | { ok: false; error: WireError }

export interface RpcContext {
  actor: string
  correlationId: string
  /**
   * With `perServer`: the server named by the subject's last token (`...agent.enrol.<server>`),
   * which NATS permissions bind to the caller's identity. Absent otherwise.
   */
  server?: string
  /** Child logger with service, operation, actor and correlationId. */
  logger: Logger
}

export interface ServeRpcOptions<S extends TSchema, R> {
  service: ServiceName
  /** Dotted operation name (`site.add`); becomes part of the subject. */
  operation: string
  /** Decodes the request body; a failure is answered as an `invalid` error, the handler never sees it. */
  request: Codec<S>
  handle(body: Static<S>, ctx: RpcContext): Promise<R> | R
  /** Defaults to the bus logger. */
  logger?: Logger
  /** Serve `<subject>.<server token>` for every server (ctx.server), not the subject itself. */
  perServer?: boolean
}

export interface RpcServer {
  readonly subject: string
  /** Resolves once the server has registered the subscription (a request sent before may find no responder). */
  readonly ready: Promise<void>
  /** Stops taking requests and waits for the ones in progress to be answered. */
  stop(): Promise<void>
}

const encoder = new TextEncoder()

/**
 * Answers one operation with core NATS request/reply. Replicas share the queue group named after
 * the service, so each request is handled once. Every failure becomes a {@link WireError} reply:
 * invalid input -> `invalid`, KrbfleetError -> its code, anything else -> `internal` (its text is
 * logged, never sent: it may hold details the caller must not see).
 */
export function serveRpc<S extends TSchema, R>(bus: Bus, options: ServeRpcOptions<S, R>): RpcServer {
  const subject = subjects.rpc(options.service, options.operation)
  const logger = (options.logger ?? bus.logger).child({
    component: 'rpc',
    service: options.service,
    operation: options.operation,
  })
  const inFlight = new Set<Promise<void>>()
  const sub = bus.nc.subscribe(options.perServer ? `${subject}.*` : subject, { queue: options.service })

  async function answer(m: Msg): Promise<void> {
    if (!m.reply) {
      logger.warn('ignored a request without a reply subject')
      return
    }
    let reply: RpcReply<R>
    // Checked before anything else, and before the logger carries them: a value the event
    // envelope refuses (actor 1-256, correlationId 1-64 characters) would otherwise let the
    // handler write (AD, KV) and then fail to build the event announcing that write.
    const headerIssues = checkCallerHeaders(m)
    if (headerIssues.length > 0) {
      const error = new ValidationError(headerIssues, 'request')
      logger.info({ code: error.code, field: error.field }, `refused: ${error.message}`)
      m.respond(encoder.encode(JSON.stringify({ ok: false, error: error.toWire() } satisfies RpcReply<R>)))
      return
    }
    const actor = m.headers?.get(ActorHeader) ?? ''
    const correlationId = m.headers?.get(CorrelationIdHeader) || randomUUID()
    const ctxLogger = logger.child({ actor, correlationId })
    try {
      let raw: unknown
      try {
        raw = m.data.length === 0 ? undefined : JSON.parse(new TextDecoder().decode(m.data))
      } catch {
        throw new ValidationError([{ field: '', rule: 'body must be JSON' }], `${options.operation} request`)
      }
      const body = options.request.decode(raw)
      const server = options.perServer ? serverOfToken(m.subject.slice(subject.length + 1)) : undefined
      const result = await options.handle(body, {
        actor,
        correlationId,
        logger: ctxLogger,
        ...(server === undefined ? {} : { server }),
      })
      reply = { ok: true, result }
    } catch (err) {
      const error = asKrbfleetError(err)
      if (err instanceof KrbfleetError) {
        ctxLogger.info(
          { code: error.code, field: error.field, ...error.logContext },
          `refused: ${error.message}`,
        )
      } else {
        ctxLogger.error({ err }, 'request failed with an unexpected error')
      }
      reply = { ok: false, error: error.toWire() }
    }
    let payload: Uint8Array
    try {
      payload = encoder.encode(JSON.stringify(reply))
    } catch (err) {
      ctxLogger.error({ err }, 'result could not be serialised')
      payload = encoder.encode(JSON.stringify({ ok: false, error: asKrbfleetError(err).toWire() }))
    }
    respond(m, payload, ctxLogger)
  }

  /**
   * One message, or, when the answer is larger than the server takes in one (max_payload: 1 MiB
   * by default; `agent list` of 2,500 servers is), consecutive parts on the reply subject, each
   * saying which it is (callRpc joins them). Beyond MAX_REPLY_PARTS the caller is told so.
   */
  function respond(m: Msg, payload: Uint8Array, ctxLogger: Logger): void {
    const partBytes = Math.max(64 * 1024, (bus.nc.info?.max_payload ?? 1024 * 1024) - PART_MARGIN)
    if (payload.length <= partBytes) {
      m.respond(payload)
      return
    }
    const parts = Math.ceil(payload.length / partBytes)
    if (parts > MAX_REPLY_PARTS) {
      const mb = (n: number) => (n / (1024 * 1024)).toFixed(1)
      const error = new KrbfleetError(
        ErrorCode.Invalid,
        `the answer of ${options.operation} is ${mb(payload.length)} MiB, over the ${mb(MAX_REPLY_PARTS * partBytes)} MiB an answer may have: ask for less (a site or a pool)`,
        { retryable: false },
      )
      ctxLogger.warn({ bytes: payload.length }, `refused: ${error.message}`)
      m.respond(encoder.encode(JSON.stringify({ ok: false, error: error.toWire() } satisfies RpcReply)))
      return
    }
    for (let part = 0; part < parts; part++) {
      const h = natsHeaders()
      h.set(PartHeader, `${part + 1}/${parts}`)
      m.respond(payload.subarray(part * partBytes, (part + 1) * partBytes), { headers: h })
    }
  }

  const loop = (async () => {
    for await (const m of sub) {
      const work = answer(m).catch((err) => logger.error({ err }, 'could not answer a request'))
      inFlight.add(work)
      void work.finally(() => inFlight.delete(work))
    }
  })()

  logger.debug({ subject }, 'serving')
  const ready = bus.nc.flush().catch((err) => {
    throw toBusError(err, `serving ${subject}`)
  })
  // Callers that never await `ready` must not crash the process with an unhandled rejection.
  ready.catch(() => {})
  return {
    subject,
    ready,
    async stop() {
      if (!sub.isClosed() && !bus.nc.isClosed()) await sub.drain().catch(() => {})
      await loop
      await Promise.all([...inFlight])
    },
  }
}

/** The event envelope's limits on the caller's identity (libs/contracts EnvelopeFields). */
const ACTOR_MAX = 256
const CORRELATION_ID_MAX = 64

/**
 * The actor header must be there with 1-256 characters; the correlation id header is optional
 * (the server makes one), but when sent it must have 1-64 characters. A header sent several times
 * counts as malformed: which value would the handler audit?
 */
function checkCallerHeaders(m: Msg): { field: string; rule: string }[] {
  const issues: { field: string; rule: string }[] = []
  const actors = m.headers?.values(ActorHeader) ?? []
  if (actors.length === 0 || actors[0] === '') {
    issues.push({ field: ActorHeader, rule: 'header is required (1 to 256 characters)' })
  } else if (actors.length > 1) {
    issues.push({ field: ActorHeader, rule: 'header must be sent once' })
  } else if ((actors[0] ?? '').length > ACTOR_MAX) {
    issues.push({ field: ActorHeader, rule: `header must have at most ${ACTOR_MAX} characters` })
  }
  if (m.headers?.has(CorrelationIdHeader)) {
    const ids = m.headers.values(CorrelationIdHeader)
    if (ids.length > 1) issues.push({ field: CorrelationIdHeader, rule: 'header must be sent once' })
    else if ((ids[0] ?? '') === '')
      issues.push({
        field: CorrelationIdHeader,
        rule: 'header must not be empty when sent (1 to 64 characters)',
      })
    else if ((ids[0] ?? '').length > CORRELATION_ID_MAX)
      issues.push({
        field: CorrelationIdHeader,
        rule: `header must have at most ${CORRELATION_ID_MAX} characters`,
      })
  }
  return issues
}

export interface CallRpcOptions<R extends TSchema = TSchema> {
  actor: string
  correlationId?: string
  /** Default 10 000 ms. */
  timeoutMs?: number
  /** Decodes the result; without it the result is returned as received. */
  response?: Codec<R>
  /** For an operation served per server: the server whose subject to call (`<subject>.<token>`). */
  server?: string
}

/**
 * Calls an operation and returns its result, or throws the KrbfleetError the service answered
 * with. No service listening -> `unavailable`; no answer in time -> `timeout` (both retryable).
 */
export async function callRpc<T = unknown>(
  bus: Bus,
  service: ServiceName,
  operation: string,
  body: unknown,
  options: CallRpcOptions,
): Promise<T> {
  const base = subjects.rpc(service, operation)
  const subject = options.server === undefined ? base : `${base}.${agentToken(options.server)}`
  const h = natsHeaders()
  h.set(ActorHeader, options.actor)
  if (options.correlationId) h.set(CorrelationIdHeader, options.correlationId)
  const timeoutMs = options.timeoutMs ?? 10_000
  let data: Uint8Array
  try {
    data = await answerOf(bus, subject, encoder.encode(JSON.stringify(body ?? null)), h, timeoutMs)
  } catch (err) {
    if (isNoResponders(err)) {
      throw new KrbfleetError(ErrorCode.Unavailable, `the ${service} service is not answering ${operation}`, {
        cause: err,
      })
    }
    if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
      throw new KrbfleetError(
        ErrorCode.Timeout,
        `the ${service} service did not answer ${operation} within ${timeoutMs} ms`,
        { cause: err },
      )
    }
    throw toBusError(err, `${service} ${operation}`)
  }
  let reply: RpcReply
  try {
    reply = JSON.parse(new TextDecoder().decode(data)) as RpcReply
  } catch (err) {
    throw new KrbfleetError(ErrorCode.Internal, `the ${service} service sent a reply that is not JSON`, {
      cause: err,
      retryable: false,
    })
  }
  if (reply?.ok === true) {
    return (options.response ? options.response.decode(reply.result) : reply.result) as T
  }
  if (reply?.ok === false && reply.error && typeof reply.error.code === 'string') {
    throw errorFromWire(reply.error)
  }
  throw new KrbfleetError(ErrorCode.Internal, `the ${service} service sent a malformed reply`, {
    retryable: false,
  })
}

/**
 * The answer's bytes: its one message, or its parts joined (serveRpc's `respond`). A part missing
 * or out of order, or the parts not all there within `timeoutMs`, is an error, never half an answer.
 */
async function answerOf(
  bus: Bus,
  subject: string,
  data: Uint8Array,
  headers: ReturnType<typeof natsHeaders>,
  timeoutMs: number,
): Promise<Uint8Array> {
  const replies = await bus.nc.requestMany(subject, data, {
    maxWait: timeoutMs,
    strategy: 'count',
    maxMessages: MAX_REPLY_PARTS,
    headers,
  })
  const parts: Uint8Array[] = []
  for await (const m of replies) {
    const label = m.headers?.get(PartHeader)
    if (!label) return m.data
    const [part, of] = label.split('/').map(Number)
    if (part !== parts.length + 1 || !Number.isSafeInteger(of) || of! > MAX_REPLY_PARTS) {
      throw new KrbfleetError(
        ErrorCode.Internal,
        `the answer came with part ${label} after ${parts.length}`,
        {
          retryable: true,
        },
      )
    }
    parts.push(m.data)
    if (part === of) return Buffer.concat(parts)
  }
  throw new TimeoutError()
}

function isNoResponders(err: unknown): boolean {
  if (err instanceof NoRespondersError) return true
  return err instanceof RequestError && (err.isNoResponders() || err.cause instanceof NoRespondersError)
}
