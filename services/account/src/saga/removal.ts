import { type AccountName, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { isRemovalTarget, markPublished } from '../domain/record.ts'
import { reasonOf } from '../failures.ts'
import type { AccountDirectory, AccountStore } from '../ports.ts'
import type { AccountOutbox } from './outbox.ts'

/**
 * The steps after a removal is decided (domain/decide.ts decideRemove): the decision is recorded
 * first (`removing`, the AD object it targets, the event it owes), so that a crash anywhere below
 * is finished by the sweep: AD delete, event, purge, each step idempotent.
 */
export class AccountRemovals {
  readonly #directory: AccountDirectory
  readonly #store: AccountStore
  readonly #outbox: AccountOutbox
  readonly #log: Logger

  constructor(options: {
    directory: AccountDirectory
    store: AccountStore
    outbox: AccountOutbox
    logger: Logger
  }) {
    this.#directory = options.directory
    this.#store = options.store
    this.#outbox = options.outbox
    this.#log = options.logger
  }

  /** AD delete (if still there), the owed events, then the record: each step idempotent. */
  async finish(account: string): Promise<void> {
    const stored = await this.#store.get(account)
    if (!stored?.record.removing) return
    const ad = await this.#directory.findAccount(stored.record.samAccountName)
    if (ad && isRemovalTarget(stored.record, ad)) {
      try {
        await this.#directory.deleteAccount(ad.dn)
      } catch (err) {
        if (!(err instanceof KrbfleetError && err.code === ErrorCode.NotFound)) throw err
      }
    } else if (ad) {
      this.#log.warn(
        { account, dn: ad.dn },
        'the AD object now under this name is not the one whose removal was decided; left alone',
      )
    }
    await this.#outbox.publishAll(stored.record)
    await this.#store.delete(account)
  }

  /**
   * The DC refused the delete: nothing happened, so the decision is withdrawn. A record written
   * only to carry the decision (`createdForRemoval`) goes; otherwise it loses the removal marks
   * and the event `eventId` it owed.
   */
  async withdraw(account: string, eventId: string, createdForRemoval: boolean): Promise<void> {
    const now = await this.#store.get(account)
    if (now && createdForRemoval) await this.#store.delete(account)
    else if (now) {
      const { removing: _r, removalTarget: _t, ...rest } = markPublished(now.record, [eventId])
      await this.#store.update(rest, now.revision)
    }
  }

  /**
   * A create or reset on an account whose removal was decided but not finished (a crash, a DC or
   * NATS failure during `remove`) first finishes that removal: continuing the record would carry
   * the removal into the new life, and the sweep would then delete the NEW object. When it cannot
   * be finished now, the caller gets a retryable conflict and nothing is written.
   */
  async finishBeforeWrite(account: AccountName): Promise<void> {
    const stored = await this.#store.get(account.id)
    if (!stored?.record.removing) return
    try {
      await this.finish(account.id)
    } catch (err) {
      this.#log.warn({ err, account: account.id }, 'could not finish an earlier removal')
      throw new KrbfleetError(
        ErrorCode.Conflict,
        `account: the earlier removal of ${account.id} is not finished yet (${reasonOf(err)}); try again once the service has finished it`,
        { field: 'account', retryable: true, cause: err },
      )
    }
    this.#log.warn({ account: account.id }, 'finished an interrupted removal before a new write')
  }
}
