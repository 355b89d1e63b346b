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

/**
 * Authentication and roles for every /v1 route (ARCHITECTURE: authenticated, role-checked): a
 * bearer token names the principal; the route's `config.role` (default viewer for GET/HEAD, admin
 * for everything else) is the least role it accepts. Probes, metrics and /docs need no token.
 */
export const auth = appWide<AuthOptions>('krbfleet-auth', async (app, { tokens }) => {
  const verifier = new TokenVerifier(tokens)
  app.addHook('onRequest', async (req) => {
    // By the matched route pattern, not the raw URL: `/%761/sites` routes to /v1/sites too.
    const pattern = req.routeOptions.url ?? ''
    if (!pattern.startsWith('/v1/') && !req.url.startsWith('/v1/')) return
    const principal = verifier.verify(req.headers.authorization)
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
})
