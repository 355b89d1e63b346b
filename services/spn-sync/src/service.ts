import {
  parseAccountName,
  type SpnDesired,
  type SpnDuplicates,
  type SpnListing,
  type SpnPlan,
  type SpnQueryResult,
  type SpnReconcileResult,
} from '@krbfleet/contracts'
import { SpnQueries } from './queries.ts'
import { type AccountOutcome, ReconcileLoop, type ReconcileLoopOptions } from './reconcile.ts'

export type SpnReconcilerOptions = ReconcileLoopOptions

/**
 * spn-sync's use cases, each validated here and handed to the part that does it: the reconcile loop
 * (reconcile.ts: reconcile, reconcile now, forget a removed account) and the read-only queries
 * (queries.ts: plan, list, query, duplicates, desired). The RPCs, the queue and the event triggers
 * call only this.
 */
export class SpnReconciler {
  readonly #loop: ReconcileLoop
  readonly #queries: SpnQueries

  constructor(options: SpnReconcilerOptions) {
    this.#loop = new ReconcileLoop(options)
    this.#queries = new SpnQueries(options)
  }

  /** Every account to look at: those of the enabled revision and those krbfleet still owns SPNs on. */
  accounts(): Promise<string[]> {
    return this.#queries.accounts()
  }

  /** Brings one account to the desired state. Throws a retryable error to be retried with backoff. */
  async reconcile(account: string): Promise<AccountOutcome> {
    return this.#loop.reconcile(parseAccount(account))
  }

  /** spn.reconcile: every account (or one) now; failures are reported per account, not thrown. */
  async reconcileNow(account?: string): Promise<SpnReconcileResult> {
    const accounts = account === undefined ? await this.accounts() : [parseAccount(account)]
    return this.#loop.reconcileNow(accounts)
  }

  /** KerberosAccountRemoved: drops the account's ownership record (see ReconcileLoop.forget). */
  async forget(account: string, removedAt?: string): Promise<void> {
    return this.#loop.forget(parseAccount(account), removedAt)
  }

  /** spn.plan: the diff of one account or of all, with conflicts; writes nothing. */
  async plan(account?: string): Promise<SpnPlan> {
    return this.#queries.plan(account === undefined ? undefined : [parseAccount(account)])
  }

  /** spn.list (setspn -L): every SPN on the account, managed or foreign, and what is missing. */
  async list(account: string): Promise<SpnListing> {
    return this.#queries.list(parseAccount(account))
  }

  /** spn.query (setspn -Q): every object holding the SPN. */
  query(spn: string): Promise<SpnQueryResult> {
    return this.#queries.query(spn)
  }

  /** spn.duplicates (setspn -X): SPNs held by more than one object, compared case-insensitively. */
  duplicates(): Promise<SpnDuplicates> {
    return this.#queries.duplicates()
  }

  /** spn.desired: what the enabled revision wants on the account. */
  async desired(account: string): Promise<SpnDesired> {
    return this.#queries.desired(parseAccount(account))
  }
}

/** A validated account id (`CORP\KERBAUTH`); a bad value is a rule_violation naming `account`. */
function parseAccount(account: string): string {
  return parseAccountName(account, 'account').id
}
