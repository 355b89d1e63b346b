import { type AccountTestReport, type AccountView, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { accountInDomain, type DomainInfo } from './domain/account.ts'
import { testAccount } from './domain/checks.ts'
import type { CallContext } from './domain/events.ts'
import { accountView, accountViews } from './domain/view.ts'
import { logRecordFailure } from './failures.ts'
import type { AccountDirectory, AccountStore, DesiredSpnSource } from './ports.ts'

export interface AccountQueriesOptions {
  domain: DomainInfo
  directory: AccountDirectory
  store: AccountStore
  spns: DesiredSpnSource
  logger: Logger
  /** Expected msDS-SupportedEncryptionTypes of an account without a record. */
  defaultEncryptionTypes: number
  /** Rotation policy checked by `test account`. */
  maxPasswordAgeDays: number
  now: () => Date
}

/** The read-only operations: `account show`, `account list`, `test account`. They never write. */
export class AccountQueries {
  readonly #domain: DomainInfo
  readonly #directory: AccountDirectory
  readonly #store: AccountStore
  readonly #spns: DesiredSpnSource
  readonly #log: Logger
  readonly #defaultEncryptionTypes: number
  readonly #maxPasswordAgeDays: number
  readonly #now: () => Date

  constructor(options: AccountQueriesOptions) {
    this.#domain = options.domain
    this.#directory = options.directory
    this.#store = options.store
    this.#spns = options.spns
    this.#log = options.logger
    this.#defaultEncryptionTypes = options.defaultEncryptionTypes
    this.#maxPasswordAgeDays = options.maxPasswordAgeDays
    this.#now = options.now
  }

  async show(value: string): Promise<AccountView> {
    const account = accountInDomain(value, this.#domain)
    const [ad, stored] = await Promise.all([
      this.#directory.findAccount(account.samAccountName),
      this.#store.get(account.id),
    ])
    if (!ad && !stored) {
      throw new KrbfleetError(ErrorCode.NotFound, `account: ${account.id} does not exist`, {
        field: 'account',
      })
    }
    return accountView(account.id, ad, stored?.record ?? null, this.#maxPasswordAgeDays)
  }

  /** Managed accounts: those with a KV record plus those carrying the marker in AD. */
  async list(): Promise<AccountView[]> {
    const [marked, records] = await Promise.all([
      this.#directory.listMarked(),
      this.#store.list((key, err) =>
        logRecordFailure(this.#log, key, err, 'unreadable record left out of the list'),
      ),
    ])
    return accountViews(this.#domain.netbiosDomain, marked, records, this.#maxPasswordAgeDays)
  }

  async test(value: string, ctx: CallContext): Promise<AccountTestReport> {
    const account = accountInDomain(value, this.#domain)
    const [ad, stored, desiredSpns] = await Promise.all([
      this.#directory.findAccount(account.samAccountName),
      this.#store.get(account.id),
      this.#spns.desiredSpns(account.id, ctx.actor),
    ])
    return testAccount({
      account: account.id,
      directory: ad,
      managed: stored !== null,
      secretKvno: stored?.record.secret?.kvno ?? null,
      pendingSince: stored?.record.pending?.startedAt ?? null,
      policy: {
        expectedEncryptionTypes: stored?.record.encryptionTypes ?? this.#defaultEncryptionTypes,
        maxPasswordAgeDays: this.#maxPasswordAgeDays,
        now: this.#now(),
      },
      desiredSpns,
    })
  }
}
