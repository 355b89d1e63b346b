import { ReconcileDeferred } from '@krbfleet/bus'

/**
 * Another spn-sync replica holds a live reconcile lease on the account, or another run of this
 * replica is at work on it. Deferred, not failed: the queue runs the account again after a backoff
 * delay, by when the other has finished (or its lease has expired because it died).
 */
export class AccountBusyError extends ReconcileDeferred {
  readonly account: string
  constructor(account: string, holder: string | null, expiresAt: number | null, cause?: unknown) {
    super(
      `account ${account} is being reconciled by another spn-sync replica or run${
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
