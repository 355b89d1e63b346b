import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream'
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
} from '@nats-io/nats-core'

/**
 * The permission violation behind an error, if any: nats.js reports a refused JetStream API
 * request as a RequestError whose cause is the violation, which must not look like an outage.
 */
export function permissionViolationOf(err: unknown): PermissionViolationError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof PermissionViolationError) return e
  }
  return undefined
}

/**
 * True for NATS failures that a retry after a short wait can fix: no responders while JetStream
 * or a service restarts, a request timeout, a connection that is reconnecting.
 */
export function isTransientNatsError(err: unknown): boolean {
  if (err instanceof ClosedConnectionError || err instanceof DrainingConnectionError) return false
  if (permissionViolationOf(err)) return false
  if (err instanceof TimeoutError || err instanceof NoRespondersError || err instanceof ConnectionError) {
    return true
  }
  if (err instanceof RequestError) return true
  // No responders on the JetStream API while the server restarts (or no stream takes the subject).
  if (err instanceof Error && err.name === 'JetStreamNotEnabled') return true
  // JetStreamNotEnabled ("no responders" on the JS API, seen while the server restarts).
  if (err instanceof JetStreamError && !(err instanceof JetStreamApiError)) {
    return /not enabled|no responders|timeout/i.test(err.message)
  }
  if (err instanceof JetStreamApiError) return err.status === 503 || err.status === 408
  return false
}

/** A NATS failure as a KrbfleetError: transient ones `unavailable` (retryable), others `internal`. */
export function toBusError(err: unknown, what: string): KrbfleetError {
  if (err instanceof KrbfleetError) return err
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof TimeoutError) {
    return new KrbfleetError(ErrorCode.Timeout, `${what}: NATS did not answer in time`, { cause: err })
  }
  const violation = permissionViolationOf(err)
  if (violation) {
    return new KrbfleetError(
      ErrorCode.Forbidden,
      `${what}: this NATS user may not ${violation.operation} on ${violation.subject} (deploy/nats permissions)`,
      { cause: err },
    )
  }
  if (isTransientNatsError(err) || err instanceof ClosedConnectionError) {
    return new KrbfleetError(ErrorCode.Unavailable, `${what}: NATS is unavailable (${message})`, {
      cause: err,
    })
  }
  return new KrbfleetError(ErrorCode.Internal, `${what}: ${message}`, { cause: err, retryable: true })
}
