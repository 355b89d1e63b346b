import { randomUUID } from 'node:crypto'
import { directoryRpcTimeoutMs, LDAP_TIMEOUT_MS_DEFAULT, ServiceName } from '@krbfleet/contracts'
import { createMetricsRegistry, healthRoutes } from '@krbfleet/runtime'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import type { Registry } from 'prom-client'
import type { ConsoleApp, ConsoleDeps, RouteContext, RouteModule } from './context.ts'
import { AuditTrail, audit } from './plugins/audit.ts'
import { authorize, identify, isApiRoute, principalOf } from './plugins/auth.ts'
import { dashboard } from './plugins/dashboard.ts'
import { answerClientError, answerFrameworkError, errors } from './plugins/errors.ts'
import { MetricsAccess, metrics, metricsNeedToken, requestCounter } from './plugins/metrics.ts'
import { openApi } from './plugins/openapi.ts'
import { defaultRateLimit, type RateLimitSettings, rateLimit } from './plugins/rate-limit.ts'
import { validation } from './plugins/validation.ts'
import { routeModules } from './routes/index.ts'

export interface BuildAppOptions {
  /** Route modules to register; the registry of routes/index.ts by default. */
  routes?: RouteModule[]
  /** Request rate limits (default 100 per 5 s per token, 20 per 5 s per address without one). */
  rateLimit?: RateLimitSettings
  /** Refusals of one token recorded one by one per window (default 10 per 60 s). */
  auditRefusals?: { perWindow: number; windowMs: number }
  /** Who may read /metrics on this app (default `token`); `open` serves it elsewhere (main.ts). */
  metrics?: MetricsAccess
  /** The metrics registry (main.ts shares it with the `open` metrics port); a new one by default. */
  registry?: Registry
  /**
   * The LDAP timeout the account service and spn-sync run with (KRBFLEET_LDAP_TIMEOUT_MS, default
   * 10 000 ms): the console waits directoryRpcTimeoutMs of it for them, so their own answer (an
   * LDAP timeout, "outcome unknown") reaches the operator instead of a bare 504.
   */
  ldapTimeoutMs?: number
}

/**
 * The console: REST API, auth, rate limits, audit, OpenAPI, health and metrics. Built, never
 * started (STYLE rule 9). The app-wide plugins come before the routes, whose every request they
 * cover; `identify`, `rateLimit` and `authorize` run in that order on every request.
 */
export async function buildApp(deps: ConsoleDeps, options: BuildAppOptions = {}): Promise<ConsoleApp> {
  const registry = options.registry ?? createMetricsRegistry()
  const count = requestCounter(registry)
  const access = options.metrics ?? MetricsAccess.Token
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    // 1 MiB: a whole topology document fits.
    bodyLimit: 1024 * 1024,
    frameworkErrors: answerFrameworkError(count),
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(validation)
  await app.register(errors)
  await app.register(metrics, { access, count })
  await app.register(identify, { tokens: deps.tokens })
  await app.register(rateLimit, { limits: options.rateLimit ?? defaultRateLimit, registry })
  const needsMetricsToken = metricsNeedToken(access)
  await app.register(authorize, { needsToken: (req) => isApiRoute(req) || needsMetricsToken(req) })
  const trail = new AuditTrail({
    publish: deps.publish,
    logger: deps.logger,
    registry,
    ...(options.auditRefusals ? { refusals: options.auditRefusals } : {}),
  })
  await app.register(audit, { trail })
  await app.register(openApi)
  await app.register(healthRoutes, { checks: deps.checks ?? {}, registry })
  await app.register(dashboard)

  const ctx = routeContext(deps, trail, rpcWaits(options.ldapTimeoutMs ?? LDAP_TIMEOUT_MS_DEFAULT))
  for (const module of options.routes ?? routeModules) {
    await app.register(async (scope) => module(scope as ConsoleApp, ctx), { prefix: '/v1' })
  }
  await app.ready()
  return app
}

/** How long the console waits for each service; the callRpc default for those not named. */
function rpcWaits(ldapTimeoutMs: number): Partial<Record<ServiceName, number>> {
  const directory = directoryRpcTimeoutMs(ldapTimeoutMs)
  return { [ServiceName.Account]: directory, [ServiceName.SpnSync]: directory }
}

function routeContext(
  deps: ConsoleDeps,
  trail: AuditTrail,
  waits: Partial<Record<ServiceName, number>>,
): RouteContext {
  return {
    principal: principalOf,
    call(req, service, operation, body) {
      const timeoutMs = waits[service]
      return deps.rpc(service, operation, body, {
        actor: principalOf(req).actor,
        correlationId: req.id,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      })
    },
    change: (req, entry, run) => trail.change(req, entry, run),
    events: deps.events,
    bus: deps.bus,
  }
}
