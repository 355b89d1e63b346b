import rateLimitPlugin, { normalizeIP } from '@fastify/rate-limit'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { FastifyRequest } from 'fastify'
import { Counter, type Registry } from 'prom-client'
import { appWide } from './app-wide.ts'
import { RateWindowStore } from './rate-limit-store.ts'

/**
 * Request rate limits. A fixed window per caller, opened by its first request (RateWindowStore):
 * `max` requests per `windowSeconds`, so the defaults (100
 * per 5 s) allow a burst of 100 and 20 a second on average. At most twice `max` can pass around a
 * window's end.
 */
export interface RateLimitSettings {
  /** Requests per window of one valid token (KRBFLEET_CONSOLE_RATE_LIMIT_MAX). */
  max: number
  /** Requests per window of one client address without a valid token (..._ANONYMOUS_MAX). */
  anonymousMax: number
  /** The window (KRBFLEET_CONSOLE_RATE_LIMIT_WINDOW_SECONDS). */
  windowSeconds: number
}

export const defaultRateLimit: RateLimitSettings = { max: 100, anonymousMax: 20, windowSeconds: 5 }

export interface RateLimitOptions {
  limits: RateLimitSettings
  registry: Registry
}

/** Probes are never limited: a busy console must still say it is alive and ready. */
const unlimited = new Set(['/healthz', '/readyz'])

/**
 * The caller a request counts against: a valid token by its name (never the token or its hash),
 * everybody else by client address (an IPv6 address by its /64, as @fastify/rate-limit does), so
 * that made-up tokens cannot open new keys.
 */
export function rateLimitKey(req: FastifyRequest): string {
  return req.principal ? req.principal.actor : `address:${normalizeIP(req.ip)}`
}

/**
 * Refuses a caller's requests over its limit with 429, `Retry-After` (seconds) and the console's
 * error body (code `rate_limited`). Register it after `identify` and before `authorize`, so that a
 * token's requests count per token, and 401s (a token being guessed) per address.
 */
export const rateLimit = appWide<RateLimitOptions>(
  'krbfleet-rate-limit',
  async (app, { limits, registry }) => {
    const limited = new Counter({
      name: 'krbfleet_console_rate_limited_total',
      help: 'Requests answered 429 by the rate limit, by caller kind (token or address)',
      labelNames: ['caller'],
      registers: [registry],
    })
    for (const caller of ['token', 'address']) limited.inc({ caller }, 0)
    // global: false: no route gets the plugin's own hook; the one below covers every request, also
    // those no route matches.
    await app.register(rateLimitPlugin, { global: false, store: RateWindowStore })
    const check = app.rateLimit({
      keyGenerator: rateLimitKey,
      max: (req) => (req.principal ? limits.max : limits.anonymousMax),
      timeWindow: limits.windowSeconds * 1000,
      onExceeded: (req) => limited.inc({ caller: req.principal ? 'token' : 'address' }),
      errorResponseBuilder: (req, context) => {
        const retryAfterSeconds = Math.max(1, Math.ceil(context.ttl / 1000))
        const who = req.principal ? `token '${req.principal.name}'` : 'this address (no valid token)'
        return new KrbfleetError(
          ErrorCode.RateLimited,
          `too many requests: ${who} may send ${context.max} in ${limits.windowSeconds} s; retry in ${retryAfterSeconds} s`,
          { details: { retryAfterSeconds, limit: context.max, windowSeconds: limits.windowSeconds } },
        )
      },
    })
    app.addHook('onRequest', async function limit(req, reply) {
      if (unlimited.has(req.routeOptions.url ?? '')) return
      await check.call(this, req, reply)
    })
  },
)
