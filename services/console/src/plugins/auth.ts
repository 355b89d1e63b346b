import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { FastifyRequest } from 'fastify'
import { type Principal, roleAllows, type TokenRecord, TokenVerifier } from '../domain/auth.ts'
import { appWide } from './app-wide.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller of a /v1 route, set by the auth plugin before any handler runs. */
    principal?: Principal
  }
}

export interface AuthOptions {
  /** Configured tokens (hashed). */
  tokens: TokenRecord[]
}

/** The authenticated caller of a /v1 route. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new KrbfleetError(ErrorCode.Unauthorized, 'authentication required')
  return req.principal
}

/** A route that takes a token: every /v1 route, and /metrics when its access is `token`. */
export type NeedsToken = (req: FastifyRequest) => boolean

/** The /v1 routes, by the matched route pattern and by the raw URL: `/%761/sites` routes to /v1/sites too. */
export const isApiRoute: NeedsToken = (req) =>
  (req.routeOptions.url ?? '').startsWith('/v1/') || req.url.startsWith('/v1/')

/**
 * Authentication, step 1 of 2: names the caller of a request by its bearer token, without refusing
 * anything yet, so that the rate limit between the two steps counts a valid token's requests per
 * token and everybody else's per client address.
 */
export const identify = appWide<AuthOptions>('krbfleet-identify', async (app, { tokens }) => {
  const verifier = new TokenVerifier(tokens)
  app.addHook('onRequest', async (req) => {
    const principal = req.headers.authorization ? verifier.verify(req.headers.authorization) : undefined
    if (principal) req.principal = principal
  })
})

export interface AuthorizeOptions {
  needsToken: NeedsToken
}

/**
 * Authentication, step 2, and roles (ARCHITECTURE: authenticated, role-checked): a route that
 * needs a token refuses a request without a valid one (401); the route's `config.role` (default
 * viewer for GET/HEAD, admin for everything else) is the least role it accepts (403). Probes and
 * /docs need no token.
 */
export const authorize = appWide<AuthorizeOptions>('krbfleet-authorize', async (app, { needsToken }) => {
  app.addHook('onRequest', async (req) => {
    if (!needsToken(req)) return
    const principal = req.principal
    if (!principal) {
      throw new KrbfleetError(
        ErrorCode.Unauthorized,
        'a valid bearer token is required (Authorization: Bearer <token>)',
      )
    }
    const config = req.routeOptions.config
    const needed = config?.role ?? (req.method === 'GET' || req.method === 'HEAD' ? 'viewer' : 'admin')
    if (!roleAllows(principal.role, needed)) {
      throw new KrbfleetError(
        ErrorCode.Forbidden,
        `${req.method} ${req.routeOptions.url ?? req.url} needs the ${needed} role; token '${principal.name}' has ${principal.role}`,
      )
    }
  })
})
