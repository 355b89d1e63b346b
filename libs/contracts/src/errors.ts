/**
 * The error vocabulary shared by every krbfleet component. Each error has a stable `code`, tells
 * whether retrying can help (`retryable`), and maps to one HTTP status at the console edge.
 * Errors cross NATS request/reply as {@link WireError} and are rebuilt with {@link errorFromWire}.
 */

export const ErrorCode = {
  Invalid: 'invalid',
  RuleViolation: 'rule_violation',
  NotFound: 'not_found',
  AlreadyExists: 'already_exists',
  Conflict: 'conflict',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  InsufficientRights: 'insufficient_rights',
  SpnConflict: 'spn_conflict',
  InsecureConnection: 'insecure_connection',
  Unavailable: 'unavailable',
  Timeout: 'timeout',
  /** Too many requests from one caller (the console's rate limit): retry after the wait it names. */
  RateLimited: 'rate_limited',
  Internal: 'internal',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

const httpStatusByCode: Record<ErrorCode, number> = {
  invalid: 400,
  rule_violation: 422,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  insufficient_rights: 403,
  spn_conflict: 409,
  insecure_connection: 400,
  unavailable: 503,
  timeout: 504,
  rate_limited: 429,
  internal: 500,
}

export interface KrbfleetErrorOptions {
  /** The input field the error is about, as a dotted path (`pool.fqdn`). */
  field?: string
  /** Overrides the default of the code (only unavailable, timeout and rate_limited retry by default). */
  retryable?: boolean
  cause?: unknown
  /** Extra, non-secret facts for the caller (for example the holder of a conflicting SPN). */
  details?: Record<string, unknown>
  /**
   * Facts for the service's own log only, never sent to a caller: a DC's raw error text is useful
   * to an administrator reading the log but means nothing (and tells too much) to an API user.
   */
  logContext?: Record<string, unknown>
}

export class KrbfleetError extends Error {
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly field: string | undefined
  readonly details: Record<string, unknown> | undefined
  readonly logContext: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, options: KrbfleetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'KrbfleetError'
    this.code = code
    this.retryable =
      options.retryable ??
      (code === ErrorCode.Unavailable || code === ErrorCode.Timeout || code === ErrorCode.RateLimited)
    this.field = options.field
    this.details = options.details
    this.logContext = options.logContext
  }

  get httpStatus(): number {
    return httpStatusByCode[this.code]
  }

  toWire(): WireError {
    const wire: WireError = { code: this.code, message: this.message, retryable: this.retryable }
    if (this.field !== undefined) wire.field = this.field
    if (this.details !== undefined) wire.details = this.details
    return wire
  }
}

/** Input that does not match its schema. `issues` names every offending field and rule. */
export class ValidationError extends KrbfleetError {
  readonly issues: ValidationIssue[]
  constructor(issues: ValidationIssue[], what = 'input') {
    const first = issues[0]
    const summary = issues.map((i) => `${i.field || what}: ${i.rule}`).join('; ')
    super(ErrorCode.Invalid, `invalid ${what}: ${summary}`, {
      ...(first ? { field: first.field } : {}),
      details: { issues },
    })
    this.name = 'ValidationError'
    this.issues = issues
  }
}

export interface ValidationIssue {
  /** Dotted path of the field (`data.site`, `servers.0.fqdn`); empty for the value itself. */
  field: string
  /** The rule that was broken, in words. */
  rule: string
}

/** A permanent failure: retrying the same message can never succeed (STYLE rule 6: term). */
export class TerminalError extends KrbfleetError {
  constructor(message: string, options: KrbfleetErrorOptions = {}) {
    super(ErrorCode.Internal, message, { ...options, retryable: false })
    this.name = 'TerminalError'
  }
}

export interface WireError {
  code: ErrorCode
  message: string
  retryable: boolean
  field?: string
  details?: Record<string, unknown>
}

export function errorFromWire(wire: WireError): KrbfleetError {
  const options: KrbfleetErrorOptions = { retryable: wire.retryable }
  if (wire.field !== undefined) options.field = wire.field
  if (wire.details !== undefined) options.details = wire.details
  return new KrbfleetError(wire.code, wire.message, options)
}

/** Any thrown value as a KrbfleetError; unknown errors become `internal` without leaking their text. */
export function asKrbfleetError(err: unknown): KrbfleetError {
  if (err instanceof KrbfleetError) return err
  return new KrbfleetError(ErrorCode.Internal, 'internal error', { cause: err, retryable: true })
}

export function isRetryable(err: unknown): boolean {
  return err instanceof KrbfleetError ? err.retryable : true
}
