import { randomUUID } from 'node:crypto'
import {
  asKrbfleetError,
  ChangeRecorded,
  codec,
  ErrorCode,
  KrbfleetError,
  ValidationError,
} from '@krbfleet/contracts'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaCompiler,
} from 'fastify'
import { Counter, collectDefaultMetrics, Registry } from 'prom-client'
import Type, { type TSchema } from 'typebox'
import { Value } from 'typebox/value'
import type { ChangeAudit, ConsoleApp, ConsoleDeps, RouteContext } from './context.ts'
import { type Principal, roleAllows, TokenVerifier } from './domain/auth.ts'
import { routeModules } from './routes/index.ts'

export interface BuildAppOptions {
  /** Route modules to register; the registry of routes/index.ts by default. */
  routes?: typeof routeModules
  /** Largest accepted body in bytes (default 1 MiB: a whole topology document fits). */
  bodyLimit?: number
}

/**
 * The body of every route that declares none (the DELETEs, password-reset, enable, ...): nothing,
 * or `{dryRun: boolean}` at most. Without it a body was never looked at, so `{"dryRun":"true"}`
 * (a string) or a misspelt `{"dryrun":true}` PERFORMED the real change. Now such a body is a 400
 * naming the field, and a route added later gets the same rule without thinking of it.
 */
export const DefaultChangeBody = Type.Optional(
  Type.Object(
    { dryRun: Type.Optional(Type.Boolean({ description: 'decide and answer without changing anything' })) },
    { additionalProperties: false },
  ),
)

/**
 * Validates with the contracts codec (the same TypeBox schemas and messages as the services).
 * Query strings and path parameters arrive as text and are converted first ("true" -> true).
 */
const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const checker = codec(schema, httpPart === 'body' ? 'body' : (httpPart ?? 'request'))
  // fastify hands an absent body over as null; an optional body may be absent (or JSON null).
  const optionalBody = httpPart === 'body' && Type.IsOptional(schema)
  return (value: unknown) => {
    if (optionalBody && (value === null || value === undefined)) return { value: undefined }
    const converted = httpPart === 'body' ? value : Value.Convert(schema, value)
    if (checker.check(converted)) return { value: converted }
    const issues = checker.issues(converted).map((i) => ({
      ...i,
      field:
        httpPart === 'body' || !httpPart
          ? i.field || 'body'
          : [httpPart === 'querystring' ? 'query' : httpPart, i.field].filter(Boolean).join('.'),
    }))
    return { error: new ValidationError(issues, httpPart === 'body' ? 'body' : 'request') }
  }
}

/**
 * The reason of a refusal as the audit trail records it. The text of an internal error (a DN, a
 * path, a fragment of a secret) goes to the log only, as in the HTTP answer.
 */
function refusalDetail(error: KrbfleetError): string {
  return `${error.code}: ${error.code === ErrorCode.Internal ? 'internal error' : error.message}`
}

/** The console: REST API, auth, audit, OpenAPI, health and metrics. Built, never started (STYLE rule 9). */
export async function buildApp(deps: ConsoleDeps, options: BuildAppOptions = {}): Promise<ConsoleApp> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    genReqId: () => randomUUID(),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Errors found before routing (malformed URL, overlong path parameter) answer in our format too.
    frameworkErrors: (err, _req, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode < 500 ? err.statusCode : 400
      void (reply as FastifyReply)
        .status(status)
        .send({ error: { code: ErrorCode.Invalid, message: err.message } })
    },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  // Every route that may change something and declares no body gets DefaultChangeBody (before
  // the route modules register, so theirs and any future module's routes are covered).
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat()
    if (methods.every((m) => m === 'GET' || m === 'HEAD')) return
    if (route.schema?.body !== undefined) return
    route.schema = { ...route.schema, body: DefaultChangeBody }
  })

  const registry = deps.registry ?? new Registry()
  if (!deps.registry) collectDefaultMetrics({ register: registry })
  const requests = new Counter({
    name: 'krbfleet_console_http_requests_total',
    help: 'HTTP requests answered by the console, by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  const changes = new Counter({
    name: 'krbfleet_console_changes_total',
    help: 'Changes recorded in the audit trail, by action and outcome',
    labelNames: ['action', 'outcome'],
    registers: [registry],
  })

  const verifier = new TokenVerifier(deps.tokens)
  const logger = deps.logger.child({ component: 'console' })

  async function record(
    req: FastifyRequest,
    audit: ChangeAudit,
    outcome: 'applied' | 'refused' | 'dry-run',
    detail?: string,
  ): Promise<void> {
    req.audited = true
    changes.inc({ action: audit.action, outcome })
    const actor = req.principal?.actor ?? 'anonymous'
    const event = ChangeRecorded.create(
      {
        action: audit.action,
        target: audit.target.slice(0, 512),
        outcome,
        ...(detail ? { detail: detail.slice(0, 1024) } : {}),
      },
      { actor, correlationId: req.id },
    )
    try {
      await deps.publish(event)
    } catch (err) {
      // The change itself stands; a lost audit record is loud in the log and the metrics.
      logger.error(
        { err, action: audit.action, target: audit.target, outcome, actor },
        'audit record not published',
      )
    }
  }

  const ctx: RouteContext = {
    deps,
    principal(req) {
      if (!req.principal) throw new KrbfleetError(ErrorCode.Unauthorized, 'authentication required')
      return req.principal
    },
    call(req, service, operation, body) {
      return deps.rpc(service, operation, body, { actor: ctx.principal(req).actor, correlationId: req.id })
    },
    async change(req, audit, run) {
      try {
        const result = await run()
        await record(req, audit, audit.dryRun ? 'dry-run' : 'applied')
        return result
      } catch (err) {
        const error = asKrbfleetError(err)
        await record(req, audit, 'refused', refusalDetail(error))
        throw err
      }
    },
  }

  // Authentication and roles for every /v1 route (STYLE: authenticated, role-checked).
  app.addHook('onRequest', async (req) => {
    // By the matched route pattern, not the raw URL: `/%761/sites` routes to /v1/sites too.
    const pattern = req.routeOptions.url ?? ''
    if (!pattern.startsWith('/v1/') && !req.url.startsWith('/v1/')) return
    const principal: Principal | undefined = verifier.verify(req.headers.authorization)
    if (!principal) {
      throw new KrbfleetError(
        ErrorCode.Unauthorized,
        'a valid bearer token is required (Authorization: Bearer <token>)',
      )
    }
    req.principal = principal
    const config = req.routeOptions.config
    const needed = config?.role ?? (req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'admin')
    if (!roleAllows(principal.role, needed)) {
      throw new KrbfleetError(
        ErrorCode.Forbidden,
        `${req.method} ${req.routeOptions.url ?? req.url} needs the ${needed} role; token '${principal.name}' has ${principal.role}`,
      )
    }
  })

  app.addHook('onResponse', async (req, reply) => {
    requests.inc({
      method: req.method,
      route: req.routeOptions.url ?? 'unknown',
      status: String(reply.statusCode),
    })
  })

  // Every error answers {error: {code, message, field}}; bad input is a 4xx, never a 500.
  app.setErrorHandler(async (err: FastifyError | KrbfleetError, req, reply) => {
    let error: KrbfleetError
    let status: number
    if (err instanceof KrbfleetError) {
      error = err
      status = err.httpStatus
      // Its text is masked in the answer and the audit trail: the log is where it can be read.
      if (err.code === ErrorCode.Internal) req.log.error({ err }, 'request failed')
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // fastify's own refusals: malformed JSON (400), body too large (413), wrong media type (415)
      error = new KrbfleetError(ErrorCode.Invalid, err.message)
      status = err.statusCode
    } else {
      req.log.error({ err }, 'request failed')
      error = asKrbfleetError(err)
      status = error.httpStatus
    }
    const action = req.routeOptions.config?.action
    if (action && req.principal && !req.audited) {
      await record(req, { action, target: req.url.split('?')[0] ?? req.url }, 'refused', refusalDetail(error))
    }
    reply.status(status)
    if (error.code === ErrorCode.Unauthorized) reply.header('www-authenticate', 'Bearer')
    const body: { code: string; message: string; field?: string; details?: Record<string, unknown> } = {
      code: error.code,
      message: error.code === ErrorCode.Internal ? 'internal error' : error.message,
    }
    if (error.field !== undefined) body.field = error.field
    if (error.details !== undefined && error.code !== ErrorCode.Internal) body.details = error.details
    return { error: body }
  })

  app.setNotFoundHandler(async (req, reply) => {
    reply.status(404)
    return { error: { code: ErrorCode.NotFound, message: `no route ${req.method} ${req.url.split('?')[0]}` } }
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'krbfleet console',
        version: '1',
        description: 'Kerberos accounts and keys for web farms',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const results: Record<string, boolean> = {}
    for (const [name, check] of Object.entries(deps.checks ?? {})) {
      // A check that hangs counts as failed after 2 s, so that probes always get an answer.
      let timer: NodeJS.Timeout | undefined
      results[name] = await Promise.race([
        Promise.resolve()
          .then(check)
          .catch(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), 2000)
        }),
      ])
      clearTimeout(timer)
    }
    const ready = Object.values(results).every(Boolean)
    reply.status(ready ? 200 : 503)
    return { status: ready ? 'ready' : 'not ready', checks: results }
  })
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', registry.contentType)
    return await registry.metrics()
  })

  for (const module of options.routes ?? routeModules) {
    await app.register(async (scope) => module(scope as ConsoleApp, ctx), { prefix: '/v1' })
  }
  await app.ready()
  return app
}
