import { KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from 'pino'

/**
 * How the account service speaks of a failure in its answers and in the log of a sweep: a
 * KrbfleetError's message (written to be shown), never a raw cause that may quote a record.
 */
export function reasonOf(err: unknown): string {
  return err instanceof KrbfleetError ? err.message : 'unexpected failure'
}

/** Code and message only: the record (sealed secrets) and raw causes stay out of the log. */
export function logRecordFailure(log: Logger, account: string, err: unknown, message: string): void {
  const e = err instanceof KrbfleetError ? err : null
  log.error(
    {
      account,
      code: e?.code ?? 'internal',
      error: e ? e.message : err instanceof Error ? err.name : 'unknown failure',
    },
    message,
  )
}
