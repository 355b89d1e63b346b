import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Counter, type Registry } from 'prom-client'
import { appWide } from './app-wide.ts'

/**
 * Who may read the console's /metrics (KRBFLEET_CONSOLE_METRICS): `token` on the API port with any
 * valid token (the default: metrics tell a stranger the routes, the load and the refusals), `open`
 * without a token on a port of its own (KRBFLEET_CONSOLE_METRICS_PORT, for a scraper on another
 * network), `off` nowhere.
 */
export const MetricsAccess = { Off: 'off', Token: 'token', Open: 'open' } as const
export type MetricsAccess = (typeof MetricsAccess)[keyof typeof MetricsAccess]

export interface MetricsOptions {
  access: MetricsAccess
  /** requestCounter of the registry that /metrics (libs/runtime healthRoutes) serves. */
  count: RequestCounter
}

/** Counts one answered request (also those answered before routing: see plugins/errors.ts). */
export type RequestCounter = (req: FastifyRequest, reply: FastifyReply) => void

export function requestCounter(registry: Registry): RequestCounter {
  const requests = new Counter({
    name: 'krbfleet_console_http_requests_total',
    help: 'HTTP requests answered by the console, by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  return (req, reply) => {
    requests.inc({
      method: req.method,
      route: req.routeOptions?.url ?? 'unknown',
      status: String(reply.statusCode),
    })
  }
}

/** Whether `req` is for the API port's /metrics and needs a token (access `token`). */
export function metricsNeedToken(access: MetricsAccess): (req: FastifyRequest) => boolean {
  return (req) => access === MetricsAccess.Token && req.routeOptions.url === '/metrics'
}

/**
 * Counts every answered request by method, route pattern and status (Prometheus), and closes the
 * API port's /metrics unless its access is `token` (where `authorize` asks for the token).
 */
export const metrics = appWide<MetricsOptions>('krbfleet-metrics', async (app, { access, count }) => {
  app.addHook('onResponse', async (req, reply) => count(req, reply))
  if (access === MetricsAccess.Token) return
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.url !== '/metrics') return
    throw new KrbfleetError(
      ErrorCode.NotFound,
      access === MetricsAccess.Off
        ? 'metrics are off (KRBFLEET_CONSOLE_METRICS=off)'
        : 'metrics are served on their own port (KRBFLEET_CONSOLE_METRICS=open, KRBFLEET_CONSOLE_METRICS_PORT)',
    )
  })
})
