import Fastify, { type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import { collectDefaultMetrics, Registry } from 'prom-client'

/** A readiness check: true when the dependency is usable (NATS connected, LDAP bound, ...). */
export type ReadinessCheck = () => boolean | Promise<boolean>

export interface HealthAppOptions {
  name: string
  checks: Record<string, ReadinessCheck>
  registry: Registry
  logger?: Logger
  /** A check that takes longer counts as failed (ms, default 2000). */
  checkTimeoutMs?: number
}

export interface StartHealthServerOptions extends Omit<HealthAppOptions, 'registry'> {
  host: string
  /** 0 picks a free port (tests). */
  port: number
  logger: Logger
  /** Default: a new registry with the default process metrics. */
  registry?: Registry
}

export interface HealthServer {
  app: FastifyInstance
  registry: Registry
  /** `http://host:port` the server listens on. */
  url: string
  port: number
  close(): Promise<void>
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
      }),
    ])
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

export interface HealthRoutesOptions {
  checks: Record<string, ReadinessCheck>
  registry: Registry
  /** Named in the answers of a health port (which serves only probes); the console's API port names none. */
  service?: string
  /** A check that takes longer counts as failed (ms, default 2000). */
  checkTimeoutMs?: number
}

/**
 * The probe and metrics endpoints as a fastify plugin, for a service's own health server and for
 * the console's API port: GET /healthz (the process answers), /readyz (200 only when every check
 * passes, else 503 naming the failed ones), /metrics (Prometheus text format of `registry`).
 * Hidden from OpenAPI: probes are not part of an API.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const timeoutMs = options.checkTimeoutMs ?? 2000
  const service = options.service === undefined ? {} : { service: options.service }
  const schema = { hide: true }
  app.get('/healthz', { schema }, async () => ({ status: 'ok', ...service }))
  app.get('/readyz', { schema }, async (_request, reply) => {
    const names = Object.keys(options.checks)
    const results = await Promise.all(
      names.map((n) => runCheck(options.checks[n] as ReadinessCheck, timeoutMs)),
    )
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i] === true]))
    const failed = names.filter((n) => !checks[n])
    if (failed.length > 0) {
      return reply.code(503).send({ status: 'not ready', ...service, failed, checks })
    }
    return { status: 'ready', ...service, checks }
  })
  app.get('/metrics', { schema }, async (_request, reply) => {
    reply.header('content-type', options.registry.contentType)
    return await options.registry.metrics()
  })
}

/** A service's health server (healthRoutes on an app of its own), built and never started (STYLE rule 9). */
export function buildHealthApp(options: HealthAppOptions): FastifyInstance {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger.child({ component: 'health' }) } : {}),
    // Probes come every few seconds; logging each would drown the real records.
    logController: new LogController({ disableRequestLogging: true }),
  })
  void app.register(healthRoutes, {
    checks: options.checks,
    registry: options.registry,
    service: options.name,
    checkTimeoutMs: options.checkTimeoutMs,
  })
  // fastify types the instance by its logger's type; callers only need the default instance type.
  return app as unknown as FastifyInstance
}

/** A registry with prom-client's default process metrics (CPU, memory, event loop lag, GC). */
export function createMetricsRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry()
  registry.setDefaultLabels(labels)
  collectDefaultMetrics({ register: registry })
  return registry
}

export async function startHealthServer(options: StartHealthServerOptions): Promise<HealthServer> {
  const registry = options.registry ?? createMetricsRegistry({ service: options.name })
  const app = buildHealthApp({ ...options, registry })
  await app.listen({ host: options.host, port: options.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  options.logger.info({ host: options.host, port }, 'health server listening')
  return {
    app,
    registry,
    port,
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: () => app.close(),
  }
}
