import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { collectDefaultMetrics, Registry } from 'prom-client'

/** A readiness check: true when the dependency is usable (NATS connected, LDAP bound, ...). */
export type ReadinessCheck = () => boolean | Promise<boolean>

export interface HealthRoutesOptions {
  checks: Record<string, ReadinessCheck>
  registry: Registry
  /** Named in the answers of a health port (which serves only probes); the console's API port names none. */
  service?: string
  /** A check that takes longer counts as failed (ms, default 2000). */
  checkTimeoutMs?: number
}

export interface StartHealthServerOptions extends Omit<HealthRoutesOptions, 'registry' | 'service'> {
  name: string
  host: string
  /** 0 picks a free port (tests). */
  port: number
  logger: Logger
  /** Default: a new registry with the default process metrics. */
  registry?: Registry
}

export interface HealthServer {
  registry: Registry
  /** `http://host:port` the server listens on. */
  url: string
  port: number
  close(): Promise<void>
}

/** One probe answer, whatever serves it. */
export interface ProbeAnswer {
  status: number
  contentType: string
  body: string
}

/** The paths probes and scrapers use. */
export const probePaths = ['/healthz', '/readyz', '/metrics'] as const

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

const json = (status: number, value: unknown): ProbeAnswer => ({
  status,
  contentType: 'application/json; charset=utf-8',
  body: JSON.stringify(value),
})

/**
 * The probe and metrics endpoints, written once for both servers below: GET /healthz (the process
 * answers), /readyz (200 only when every check passes, else 503 naming the failed ones), /metrics
 * (Prometheus text format of `registry`). Undefined for any other path.
 */
export async function answerProbe(
  path: string,
  options: HealthRoutesOptions,
): Promise<ProbeAnswer | undefined> {
  const service = options.service === undefined ? {} : { service: options.service }
  switch (path) {
    case '/healthz':
      return json(200, { status: 'ok', ...service })
    case '/readyz': {
      const timeoutMs = options.checkTimeoutMs ?? 2000
      const names = Object.keys(options.checks)
      const results = await Promise.all(
        names.map((n) => runCheck(options.checks[n] as ReadinessCheck, timeoutMs)),
      )
      const checks = Object.fromEntries(names.map((n, i) => [n, results[i] === true]))
      const failed = names.filter((n) => !checks[n])
      return failed.length > 0
        ? json(503, { status: 'not ready', ...service, failed, checks })
        : json(200, { status: 'ready', ...service, checks })
    }
    case '/metrics':
      return {
        status: 200,
        contentType: options.registry.contentType,
        body: await options.registry.metrics(),
      }
    default:
      return undefined
  }
}

/**
 * The probes as a fastify plugin, for the console's API port. Hidden from OpenAPI: probes are not
 * part of an API. (fastify is a type here only: a service that runs the health server below never
 * loads it.)
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  for (const path of probePaths) {
    app.get(path, { schema: { hide: true } }, async (_request, reply) => {
      const answer = (await answerProbe(path, options)) as ProbeAnswer
      return reply.code(answer.status).header('content-type', answer.contentType).send(answer.body)
    })
  }
}

/** A registry with prom-client's default process metrics (CPU, memory, event loop lag, GC). */
export function createMetricsRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry()
  registry.setDefaultLabels(labels)
  collectDefaultMetrics({ register: registry })
  return registry
}

/**
 * A service's own health port (node:http: a probe port needs no framework, and the agent on every
 * web server stays small). GET and HEAD only; probes are not logged (they come every few seconds).
 */
export async function startHealthServer(options: StartHealthServerOptions): Promise<HealthServer> {
  const registry = options.registry ?? createMetricsRegistry({ service: options.name })
  const routes: HealthRoutesOptions = {
    checks: options.checks,
    registry,
    service: options.name,
    ...(options.checkTimeoutMs === undefined ? {} : { checkTimeoutMs: options.checkTimeoutMs }),
  }
  const logger = options.logger.child({ component: 'health' })
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://probe').pathname
    const reply = (answer: ProbeAnswer) => {
      res.writeHead(answer.status, {
        'content-type': answer.contentType,
        'content-length': Buffer.byteLength(answer.body),
      })
      res.end(req.method === 'HEAD' ? undefined : answer.body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return reply(json(405, { status: 'method not allowed', method: req.method }))
    }
    answerProbe(path, routes).then(
      (answer) => reply(answer ?? json(404, { status: 'not found', path, paths: probePaths })),
      (err) => {
        logger.error({ err, path }, 'probe failed')
        reply(json(500, { status: 'error' }))
      },
    )
  })
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  logger.info({ host: options.host, port }, 'health server listening')
  return {
    registry,
    port,
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
