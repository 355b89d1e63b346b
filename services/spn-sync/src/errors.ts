import { ReconcileDeferred } from '@krbfleet/bus'

/**
 * Another spn-sync replica holds a live reconcile lease on the account. Deferred, not failed: the
 * queue runs the account again after a backoff delay, by when the other replica has finished (or
 * its lease has expired because it died).
 */
export class AccountBusyError extends ReconcileDeferred {
  readonly account: string
  constructor(account: string, holder: string | null, expiresAt: number | null, cause?: unknown) {
    super(
      `account ${account} is being reconciled by another spn-sync replica${
        expiresAt === null ? '' : ` (lease until ${new Date(expiresAt).toISOString()})`
      }; it is reconciled again later`,
      {
        ...(cause === undefined ? {} : { cause }),
        details: { account, ...(holder === null ? {} : { holder }) },
      },
    )
    this.name = 'AccountBusyError'
    this.account = account
  }
}
