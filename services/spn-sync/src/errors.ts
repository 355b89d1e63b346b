import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'

/**
 * Another spn-sync replica holds a live reconcile lease on the account. Retryable: the queue runs
 * the account again after a backoff delay, by when the other replica has finished (or its lease
 * has expired because it died).
 */
export class AccountBusyError extends KrbfleetError {
  readonly account: string
  constructor(account: string, holder: string | null, expiresAt: number | null, cause?: unknown) {
    super(
      ErrorCode.Conflict,
      `account ${account} is being reconciled by another spn-sync replica${
        expiresAt === null ? '' : ` (lease until ${new Date(expiresAt).toISOString()})`
      }; it is reconciled again later`,
      {
        retryable: true,
        ...(cause === undefined ? {} : { cause }),
        details: { account, ...(holder === null ? {} : { holder }) },
      },
    )
    this.name = 'AccountBusyError'
    this.account = account
  }
}
