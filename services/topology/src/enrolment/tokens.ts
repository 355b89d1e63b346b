import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * One-time enrolment tokens, pure (time and randomness passed in or isolated here). An operator
 * issues one per server (`krbfleet agent token SERVER`); the agent presents it on its first
 * enrolment, or when it enrols a new key. Only its SHA-256 is stored; it is single use and expires.
 */

export interface StoredToken {
  server: string
  /** hex SHA-256 of the token. */
  sha256: string
  issuedAt: string
  expiresAt: string
  issuedBy: string
}

/** `kfe_` + 32 random bytes in base64url: recognisable in a leaked log, unguessable. */
export function newEnrolmentToken(): string {
  return `kfe_${randomBytes(32).toString('base64url')}`
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export type TokenCheck = { ok: true } | { ok: false; rule: string }

/** Whether `token` is the stored one for `server` and still valid at `now`. */
export function checkEnrolmentToken(
  stored: StoredToken | null,
  server: string,
  token: string | undefined,
  now: Date,
): TokenCheck {
  const howTo = `issue one with \`krbfleet agent token ${server}\` and give it to the agent (KRBFLEET_AGENT_ENROL_TOKEN_FILE)`
  if (token === undefined) {
    return { ok: false, rule: `a new agent key for ${server} needs its one-time enrolment token: ${howTo}` }
  }
  if (!stored || stored.server !== server) {
    return { ok: false, rule: `no enrolment token is waiting for ${server} (used or never issued): ${howTo}` }
  }
  const given = Buffer.from(hashToken(token), 'hex')
  const expected = Buffer.from(stored.sha256, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, rule: `the enrolment token is not the one issued for ${server}: ${howTo}` }
  }
  if (Date.parse(stored.expiresAt) <= now.getTime()) {
    return { ok: false, rule: `the enrolment token of ${server} expired at ${stored.expiresAt}: ${howTo}` }
  }
  return { ok: true }
}
