import { Counter, type Registry } from 'prom-client'
import { appWide } from './app-wide.ts'

export interface MetricsOptions {
  /** Where the counters go; /metrics (libs/runtime healthRoutes) serves the same registry. */
  registry: Registry
}

/** Counts every answered request by method, route pattern and status (Prometheus). */
export const metrics = appWide<MetricsOptions>('krbfleet-metrics', async (app, { registry }) => {
  const requests = new Counter({
    name: 'krbfleet_console_http_requests_total',
    help: 'HTTP requests answered by the console, by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  app.addHook('onResponse', async (req, reply) => {
    requests.inc({
      method: req.method,
      route: req.routeOptions.url ?? 'unknown',
      status: String(reply.statusCode),
    })
  })
})
