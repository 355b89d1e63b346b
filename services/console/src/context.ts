import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { BusHealth, EventEnvelope, ServiceName } from '@krbfleet/contracts'
import type { ReadinessCheck } from '@krbfleet/runtime'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify'
import type { Logger } from 'pino'
import type { Principal, Role, TokenRecord } from './domain/auth.ts'

/** Calls an operation of a krbfleet service (libs/bus callRpc in production). */
export type RpcCaller = <T = unknown>(
  service: ServiceName,
  operation: string,
  body: unknown,
  options: { actor: string; correlationId?: string; timeoutMs?: number },
) => Promise<T>

export interface ConsoleDeps {
  logger: Logger
  /** Configured tokens (hashed). */
  tokens: TokenRecord[]
  rpc: RpcCaller
  /** Publishes an event (the ChangeRecorded audit trail); libs/bus publish in production. */
  publish: (envelope: EventEnvelope) => Promise<unknown>
  /** Readiness checks for /readyz (for example `nats: () => bus.isConnected()`). */
  checks?: Record<string, ReadinessCheck>
  /** The events stream read as a log (libs/bus readEventLog / sequenceAt); GET /v1/events. */
  events?: EventLog
  /** The events stream and its consumers' lag (libs/bus busHealth); GET /v1/bus. */
  bus?: { health(): Promise<BusHealth> }
}

/** One stored event and its stream sequence. */
export interface LoggedEvent {
  seq: number
  event: EventEnvelope
}

/** Reads the events stream without a consumer (libs/bus event-log.ts). */
export interface EventLog {
  read(options: {
    from: number
    subject: string
    limit: number
  }): Promise<{ events: LoggedEvent[]; next: number }>
  /** The first sequence stored at or after `at` in the stream of `subject`. */
  sequenceAt(at: Date, subject: string): Promise<number>
}

export type ConsoleApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>

export interface ChangeAudit {
  /** Dotted verb, as in the CLI (`site.add`, `account.new`). */
  action: string
  /** What it acts on (`site:Redmond`, `pool:pool01.corp.example.com`). */
  target: string
  dryRun?: boolean
}

/** What a route module gets besides its fastify scope: the caller, service calls, audited changes. */
export interface RouteContext {
  /** The authenticated caller of a /v1 route (set by the auth plugin before any handler runs). */
  principal(req: FastifyRequest): Principal
  /** callRpc with the caller as actor and the request id as correlation id. */
  call<T = unknown>(req: FastifyRequest, service: ServiceName, operation: string, body: unknown): Promise<T>
  /**
   * Runs a change and records it (ChangeRecorded: applied, dry-run, or refused with the reason),
   * then returns its result or rethrows its error.
   */
  change<T>(req: FastifyRequest, audit: ChangeAudit, run: () => Promise<T>): Promise<T>
  /** The event log, when the console has one (ConsoleDeps.events). */
  events: EventLog | undefined
  /** The bus health, when the console has it (ConsoleDeps.bus). */
  bus: ConsoleDeps['bus']
}

/** A console route module: a fastify plugin registering its routes under /v1. */
export type RouteModule = (app: ConsoleApp, ctx: RouteContext) => Promise<void>

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Least role allowed; default viewer for GET/HEAD, admin for everything else. */
    role?: Role
    /** Audit action of a change route; set it on every route that changes something. */
    action?: string
  }
}
