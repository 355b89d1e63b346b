import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import type { DirectoryAccount } from '../domain/account.ts'
import { decideDriftRepair } from '../domain/drift.ts'
import type { AccountDirectory, AccountStore } from '../ports.ts'
import type { AccountOutbox } from '../saga/outbox.ts'

export interface DriftRepairsOptions {
  directory: AccountDirectory
  store: AccountStore
  outbox: AccountOutbox
  logger: Logger
  now: () => Date
}

/**
 * Restores what a hand edit changed on managed accounts (domain/drift.ts), from the sweep. The AD
 * write comes first and the record, with the owed AccountDriftRepaired event, after it: a crash in
 * between leaves AD repaired and no event (the next sweep finds no drift), never an event for a
 * repair that did not happen.
 */
export class DriftRepairs {
  readonly #directory: AccountDirectory
  readonly #store: AccountStore
  readonly #outbox: AccountOutbox
  readonly #log: Logger
  readonly #now: () => Date

  constructor(options: DriftRepairsOptions) {
    this.#directory = options.directory
    this.#store = options.store
    this.#outbox = options.outbox
    this.#log = options.logger
    this.#now = options.now
  }

  /**
   * Repairs `account` if it drifted. `seen` is AD's object from the sweep's one search of the
   * marked accounts (no further LDAP read when it shows no drift); an account missing there (its
   * marker edited away) is looked up on its own.
   * Returns 1 when it repaired something.
   */
  async repair(account: string, seen: DirectoryAccount | undefined): Promise<number> {
    const stored = await this.#store.get(account)
    if (!stored) return 0
    // The sweep's search may predate a write that finished since: a drift it shows is read again.
    if (seen && !decideDriftRepair(stored.record, seen, this.#now())) return 0
    const ad = await this.#directory.findAccount(stored.record.samAccountName)
    const repair = decideDriftRepair(stored.record, ad, this.#now())
    if (!repair) return 0
    await this.#directory.modifyAccount(repair.dn, repair.changes)
    try {
      await this.#store.update(repair.record, stored.revision)
    } catch (err) {
      // Another writer moved the record meanwhile: AD is repaired; the announcement is dropped.
      if (!(err instanceof KrbfleetError && err.code === ErrorCode.Conflict)) throw err
      this.#log.warn({ account }, 'repaired drift, but the record changed meanwhile: no event')
      return 1
    }
    const { found, restored } = repair.event.data as { found: number | null; restored: number }
    this.#log.warn(
      { account, attribute: 'msDS-SupportedEncryptionTypes', found, restored },
      'restored an attribute changed outside krbfleet',
    )
    await this.#outbox.publishOwed(account)
    return 1
  }
}
