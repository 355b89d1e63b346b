import { randomUUID } from 'node:crypto'
import { createMetricsRegistry, healthRoutes } from '@krbfleet/runtime'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import type { ConsoleApp, ConsoleDeps, RouteContext, RouteModule } from './context.ts'
import { AuditTrail, audit } from './plugins/audit.ts'
import { auth, principalOf } from './plugins/auth.ts'
import { answerFrameworkError, errors } from './plugins/errors.ts'
import { metrics } from './plugins/metrics.ts'
import { openApi } from './plugins/openapi.ts'
import { validation } from './plugins/validation.ts'
import { routeModules } from './routes/index.ts'

export interface BuildAppOptions {
  /** Route modules to register; the registry of routes/index.ts by default. */
  routes?: RouteModule[]
}

/**
 * The console: REST API, auth, audit, OpenAPI, health and metrics. Built, never started (STYLE
 * rule 9). The app-wide plugins come before the routes, whose every request they cover.
 */
export async function buildApp(deps: ConsoleDeps, options: BuildAppOptions = {}): Promise<ConsoleApp> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    // 1 MiB: a whole topology document fits.
    bodyLimit: 1024 * 1024,
    frameworkErrors: answerFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>()
  const registry = createMetricsRegistry()

  await app.register(validation)
  await app.register(errors)
  await app.register(metrics, { registry })
  await app.register(auth, { tokens: deps.tokens })
  const trail = new AuditTrail({ publish: deps.publish, logger: deps.logger, registry })
  await app.register(audit, { trail })
  await app.register(openApi)
  await app.register(healthRoutes, { checks: deps.checks ?? {}, registry })

  const ctx = routeContext(deps, trail)
  for (const module of options.routes ?? routeModules) {
    await app.register(async (scope) => module(scope as ConsoleApp, ctx), { prefix: '/v1' })
  }
  await app.ready()
  return app
}

function routeContext(deps: ConsoleDeps, trail: AuditTrail): RouteContext {
  return {
    principal: principalOf,
    call(req, service, operation, body) {
      return deps.rpc(service, operation, body, { actor: principalOf(req).actor, correlationId: req.id })
    },
    change: (req, entry, run) => trail.change(req, entry, run),
  }
}
