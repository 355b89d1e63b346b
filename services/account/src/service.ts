import {
  type AccountChange,
  type AccountCreateRequest,
  type AccountRemoveRequest,
  type AccountTestReport,
  type AccountView,
  ErrorCode,
  KrbfleetError,
  type PasswordResetRequest,
} from '@krbfleet/contracts'
import type { Logger } from 'pino'
import {
  accountInDomain,
  DEFAULT_ENCRYPTION_TYPES,
  type DomainInfo,
  parseEncryptionTypes,
  resolveContainerDn,
} from './domain/account.ts'
import {
  checkRemovable,
  type DecisionContext,
  type DirectoryWrite,
  decideCreate,
  decideRemove,
  decideReset,
  type PasswordWriteDecision,
} from './domain/decide.ts'
import type { CallContext } from './domain/events.ts'
import { type AccountRecord, isDefiniteRefusal } from './domain/record.ts'
import { logRecordFailure, reasonOf } from './failures.ts'
import type {
  AccountDirectory,
  AccountStore,
  AssignmentSource,
  DesiredSpnSource,
  EventSink,
  SecretBox,
} from './ports.ts'
import { AccountQueries } from './queries.ts'
import { AccountOutbox } from './saga/outbox.ts'
import { PendingSecrets } from './saga/pending-secret.ts'
import { AccountRemovals } from './saga/removal.ts'
import { DriftRepairs } from './repair/drift.ts'

export type { CallContext }

export interface AccountServiceOptions {
  domain: DomainInfo
  directory: AccountDirectory
  store: AccountStore
  secrets: SecretBox
  events: EventSink
  spns: DesiredSpnSource
  /** The enabled topology's assignments: an assigned account is only removed with force. */
  assignments: AssignmentSource
  logger: Logger
  randomBytes: (size: number) => Uint8Array
  /** Container for new accounts when the request names none (default: CN=Computers,<base>). */
  defaultContainerDn?: string
  /** msDS-SupportedEncryptionTypes for new accounts (default 24, AES only). */
  defaultEncryptionTypes?: number
  /** Rotation policy checked by `test account`. */
  maxPasswordAgeDays: number
  passwordLength?: number
  /** How long a replaced kvno stays on the servers (default 10 h). */
  maxTicketLifetimeMs?: number
  now?: () => Date
}

/**
 * The account service's use cases (New-CsKerberosAccount and the AD half of
 * Set-CsKerberosAccountPassword): read AD and the record, decide (domain/decide.ts), write with
 * compare-and-set and publish with ids derived from the record. Every new secret goes through the
 * pending-secret saga (saga/pending-secret.ts): sealed into KV as pending BEFORE the AD write,
 * confirmed with AD's kvno after it.
 */
export class AccountService {
  readonly #domain: DomainInfo
  readonly #directory: AccountDirectory
  readonly #store: AccountStore
  readonly #assignments: AssignmentSource
  readonly #defaultContainerDn: string | undefined
  readonly #context: DecisionContext
  readonly #now: () => Date
  readonly #log: Logger
  readonly #outbox: AccountOutbox
  readonly #secrets: PendingSecrets
  readonly #removals: AccountRemovals
  readonly #drift: DriftRepairs
  readonly #queries: AccountQueries

  constructor(options: AccountServiceOptions) {
    const { directory, store } = options
    this.#domain = options.domain
    this.#directory = directory
    this.#store = store
    this.#assignments = options.assignments
    this.#defaultContainerDn = options.defaultContainerDn
    this.#context = {
      domain: options.domain,
      defaultEncryptionTypes: options.defaultEncryptionTypes ?? DEFAULT_ENCRYPTION_TYPES,
    }
    this.#now = options.now ?? (() => new Date())
    this.#log = options.logger.child({ component: 'account-service' })
    const logger = this.#log
    this.#outbox = new AccountOutbox({ store, events: options.events })
    this.#secrets = new PendingSecrets({
      directory,
      store,
      secrets: options.secrets,
      outbox: this.#outbox,
      logger,
      now: this.#now,
      randomBytes: options.randomBytes,
      passwordLength: options.passwordLength,
      maxTicketLifetimeMs: options.maxTicketLifetimeMs,
    })
    this.#removals = new AccountRemovals({ directory, store, outbox: this.#outbox, logger })
    this.#drift = new DriftRepairs({ directory, store, outbox: this.#outbox, logger, now: this.#now })
    this.#queries = new AccountQueries({
      domain: options.domain,
      directory,
      store,
      spns: options.spns,
      logger,
      defaultEncryptionTypes: this.#context.defaultEncryptionTypes,
      maxPasswordAgeDays: options.maxPasswordAgeDays,
      now: this.#now,
    })
  }

  get domain(): DomainInfo {
    return this.#domain
  }

  /** The pending-secret saga, shared with the rotation saga (rotation/saga.ts). */
  get pendingSecrets(): PendingSecrets {
    return this.#secrets
  }

  get outbox(): AccountOutbox {
    return this.#outbox
  }

  async create(request: AccountCreateRequest, ctx: CallContext): Promise<AccountChange> {
    const account = accountInDomain(request.account, this.#domain)
    const containerDn = resolveContainerDn(request.containerDn ?? this.#defaultContainerDn, this.#domain)
    const encryptionTypes =
      request.encryptionTypes === undefined ? undefined : parseEncryptionTypes(request.encryptionTypes)
    const dryRun = request.dryRun === true
    if (!dryRun) await this.#removals.finishBeforeWrite(account)
    const [existing, stored] = await Promise.all([
      this.#directory.findAccount(account.samAccountName),
      this.#store.get(account.id),
    ])
    const decision = decideCreate(
      { account, containerDn, encryptionTypes, adopt: request.adopt === true, dryRun },
      {
        existing,
        pendingSince: stored?.record.pending?.startedAt ?? null,
        ...(existing ? {} : { containerExists: await this.#directory.containerExists(containerDn) }),
      },
      this.#context,
    )
    const done = await this.#writePassword(decision, ctx)
    if (!dryRun) {
      const message = decision.operation === 'adopt' ? 'account adopted' : 'account created'
      this.#log.info({ account: account.id, dn: done.dn, kvno: done.kvno, actor: ctx.actor }, message)
    }
    return done
  }

  async resetPassword(request: PasswordResetRequest, ctx: CallContext): Promise<AccountChange> {
    const account = accountInDomain(request.account, this.#domain)
    const dryRun = request.dryRun === true
    if (!dryRun) await this.#removals.finishBeforeWrite(account)
    const ad = await this.#directory.findAccount(account.samAccountName)
    // Without an AD object the record does not matter: decideReset refuses first.
    const stored = ad ? await this.#store.get(account.id) : null
    const decision = decideReset({ account, dryRun }, { ad, record: stored?.record ?? null })
    const done = await this.#writePassword(decision, ctx)
    if (!dryRun) this.#log.info({ account: account.id, kvno: done.kvno, actor: ctx.actor }, 'password reset')
    return done
  }

  async remove(request: AccountRemoveRequest, ctx: CallContext): Promise<AccountChange> {
    const account = accountInDomain(request.account, this.#domain)
    const ad = await this.#directory.findAccount(account.samAccountName)
    const stored = await this.#store.get(account.id)
    const record = stored?.record ?? null
    checkRemovable(account, ad, record)
    const sites = await this.#assignments.sitesOf(account.id)
    const decision = decideRemove(
      { account, force: request.force === true, dryRun: request.dryRun === true },
      { ad, record, sites },
      this.#context,
      ctx,
      this.#now(),
    )
    if (decision.change.dryRun) return decision.change
    // The decision is recorded first (removing + the event it owes), so a crash anywhere below is
    // finished by the sweep.
    if (stored) await this.#store.update(decision.record, stored.revision)
    else await this.#store.create(decision.record)
    try {
      await this.#removals.finish(account.id)
    } catch (err) {
      if (!isDefiniteRefusal(err)) {
        this.#log.warn({ err, account: account.id }, 'removal interrupted; the sweep finishes it')
        throw new KrbfleetError(
          ErrorCode.Unavailable,
          `account: the removal of ${account.id} is recorded but not finished (${reasonOf(err)}); it will be finished by the service`,
          { field: 'account', retryable: true, cause: err, details: { outcome: 'unknown' } },
        )
      }
      await this.#removals.withdraw(account.id, decision.eventId, stored === null)
      throw err
    }
    this.#log.info({ account: account.id, dn: decision.change.dn, actor: ctx.actor }, 'account removed')
    return decision.change
  }

  show(value: string): Promise<AccountView> {
    return this.#queries.show(value)
  }

  list(): Promise<AccountView[]> {
    return this.#queries.list()
  }

  test(value: string, ctx: CallContext): Promise<AccountTestReport> {
    return this.#queries.test(value, ctx)
  }

  /**
   * The sweep (run at start-up and periodically): settles secrets left pending by a crash between
   * the KV write and the AD write, finishes decided removals, and publishes owed events. Only
   * leftovers older than `olderThanMs` are touched. Returns how many it settled.
   */
  async recoverPending(olderThanMs = 0): Promise<number> {
    let settled = 0
    const cutoff = this.#now().getTime() - olderThanMs
    const records = await this.#store.list((key, err) =>
      logRecordFailure(this.#log, key, err, 'unreadable record'),
    )
    for (const record of records) {
      // One account's failure (a DC refusal, a damaged outbox entry) must not stop the others:
      // log it and move on; the next sweep tries it again.
      try {
        settled += await this.#recoverOne(record, cutoff)
      } catch (err) {
        logRecordFailure(
          this.#log,
          record.account,
          err,
          'could not settle this account; the next sweep tries again',
        )
      }
    }
    return settled
  }

  /**
   * The drift half of the sweep (repair/drift.ts): restores msDS-SupportedEncryptionTypes changed
   * outside krbfleet on every managed account, one LDAP search for all of them. Returns how many
   * it repaired.
   */
  async repairDrift(): Promise<number> {
    const marked = new Map(
      (await this.#directory.listMarked()).map((ad) => [ad.samAccountName.toLowerCase(), ad]),
    )
    const records = await this.#store.list((key, err) =>
      logRecordFailure(this.#log, key, err, 'unreadable record'),
    )
    let repaired = 0
    for (const record of records) {
      try {
        repaired += await this.#drift.repair(record.account, marked.get(record.samAccountName.toLowerCase()))
      } catch (err) {
        logRecordFailure(this.#log, record.account, err, 'could not repair drift; the next sweep tries again')
      }
    }
    return repaired
  }

  async #recoverOne(record: AccountRecord, cutoff: number): Promise<number> {
    let settled = 0
    if (record.pending) settled += await this.#secrets.settle(record.account, cutoff)
    // Removals decided but not finished (a crash or a DC/NATS failure on the way).
    if (record.removing && Date.parse(record.updatedAt) <= cutoff) {
      await this.#removals.finish(record.account)
      this.#log.warn({ account: record.account }, 'finished an interrupted removal')
      return settled + 1
    }
    // Events owed by writes already made (like topology's catchUp): the ids are the same, so a
    // publish that did reach the stream before is dropped as a duplicate.
    const published = await this.#outbox.publishOwed(record.account)
    if (published > 0) this.#log.warn({ account: record.account, published }, 'published owed events')
    return settled + published
  }

  /** The plan of a dry run; otherwise the decided write through the pending-secret saga. */
  async #writePassword(decision: PasswordWriteDecision, ctx: CallContext): Promise<AccountChange> {
    if (decision.change.dryRun) return decision.change
    const kvno = await this.#secrets.write(decision, ctx, (password) =>
      this.#writeDirectory(decision.write, password),
    )
    return { ...decision.change, kvno }
  }

  async #writeDirectory(write: DirectoryWrite, password: string): Promise<void> {
    if (write.kind === 'add') {
      await this.#directory.createAccount(write.dn, { ...write.attributes }, password)
      return
    }
    if (Object.keys(write.changes).length > 0) await this.#directory.modifyAccount(write.dn, write.changes)
    await this.#directory.setPassword(write.dn, password)
  }
}
