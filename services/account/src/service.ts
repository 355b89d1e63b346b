import {
  type AccountChange,
  type AccountCreateRequest,
  type AccountName,
  type AccountRemoveRequest,
  type AccountTestReport,
  type AccountView,
  ErrorCode,
  type EventEnvelope,
  KerberosAccountCreated,
  KerberosAccountRemoved,
  KrbfleetError,
  PasswordReset,
  type PasswordResetRequest,
} from '@krbfleet/contracts'
import type { Logger } from 'pino'
import {
  accountDn,
  accountInDomain,
  DEFAULT_ENCRYPTION_TYPES,
  type DomainInfo,
  encryptionTypeNames,
  isManagedDescription,
  isUsableEncryptionTypes,
  MANAGED_DESCRIPTION,
  newAccountAttributes,
  parseEncryptionTypes,
  resolveContainerDn,
  UserAccountControl,
} from './domain/account.ts'
import { testAccount } from './domain/checks.ts'
import { generatePassword } from './domain/password.ts'
import {
  type AccountRecord,
  abandonSecret,
  accountEventId,
  beginSecret,
  confirmSecret,
  isDefiniteRefusal,
  isRemovalTarget,
  markPublished,
  type PendingOperation,
  resolvePending,
} from './domain/record.ts'
import type {
  AccountDirectory,
  AccountStore,
  AssignmentSource,
  DesiredSpnSource,
  DirectoryAccount,
  EventSink,
  SecretBox,
  StoredRecord,
} from './ports.ts'

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
  now?: () => Date
}

export interface CallContext {
  actor: string
  correlationId?: string
}

/** Shown instead of the password in plans: the secret never leaves the service. */
const SECRET_PLACEHOLDER = '[secret]'

/**
 * The account service's use cases (New-CsKerberosAccount and the AD half of
 * Set-CsKerberosAccountPassword). Every new secret follows the saga rule of ARCHITECTURE.md:
 * sealed into KV as pending BEFORE the AD write, confirmed with AD's kvno after it.
 */
export class AccountService {
  readonly #o: AccountServiceOptions
  readonly #now: () => Date
  readonly #log: Logger

  constructor(options: AccountServiceOptions) {
    this.#o = options
    this.#now = options.now ?? (() => new Date())
    this.#log = options.logger.child({ component: 'account-service' })
  }

  get domain(): DomainInfo {
    return this.#o.domain
  }

  async create(request: AccountCreateRequest, ctx: CallContext): Promise<AccountChange> {
    const { domain, directory } = this.#o
    const account = accountInDomain(request.account, domain)
    const containerDn = resolveContainerDn(request.containerDn ?? this.#o.defaultContainerDn, domain)
    const explicitTypes =
      request.encryptionTypes === undefined ? undefined : parseEncryptionTypes(request.encryptionTypes)
    if (request.dryRun !== true) await this.#finishDecidedRemoval(account)
    const existing = await directory.findAccount(account.samAccountName)
    if (existing && !request.adopt) {
      throw new KrbfleetError(
        ErrorCode.AlreadyExists,
        `account: ${account.id} already exists at ${existing.dn}; use --adopt to let krbfleet manage it`,
        { field: 'account', details: { dn: existing.dn } },
      )
    }
    if (existing) return await this.#adopt(account, existing, explicitTypes, request.dryRun === true, ctx)

    const encryptionTypes = explicitTypes ?? this.#o.defaultEncryptionTypes ?? DEFAULT_ENCRYPTION_TYPES
    if (!(await directory.containerExists(containerDn))) {
      throw new KrbfleetError(
        ErrorCode.NotFound,
        `containerDn: '${containerDn}' does not exist in the directory`,
        {
          field: 'containerDn',
        },
      )
    }
    const dn = accountDn(account, containerDn)
    const attributes = newAccountAttributes(account, domain, encryptionTypes)
    const plan: AccountChange = {
      account: account.id,
      action: 'create',
      dryRun: request.dryRun === true,
      dn,
      attributes: { ...attributes, unicodePwd: SECRET_PLACEHOLDER },
      kvno: null,
    }
    if (plan.dryRun) return plan
    this.#requireEncrypted()

    const kvno = await this.#withNewSecret(
      account,
      {
        dn,
        dnsHostName: attributes.dNSHostName,
        encryptionTypes,
        adopted: false,
      },
      'create',
      null,
      (password) => directory.createAccount(dn, { ...attributes }, password),
      // AD has no object: whatever record is left describes an earlier life (removed in AD by
      // hand, or a create that never reached AD). A new life gets a new createdAt, so new event ids.
      'new',
      ctx,
    )
    this.#log.info({ account: account.id, dn, kvno, actor: ctx.actor }, 'account created')
    return { ...plan, kvno }
  }

  async #adopt(
    account: AccountName,
    existing: DirectoryAccount,
    explicitTypes: number | undefined,
    dryRun: boolean,
    ctx: CallContext,
  ): Promise<AccountChange> {
    const uac = existing.userAccountControl ?? 0
    if (!(uac & UserAccountControl.WorkstationTrustAccount)) {
      // The keys krbfleet derives use the computer-account salt (MS-KILE 3.1.1.2); a user
      // account has another salt, so adopting one would hand out wrong keys.
      throw new KrbfleetError(
        ErrorCode.RuleViolation,
        `account: ${account.id} at ${existing.dn} is not a computer account (userAccountControl ${uac} lacks WORKSTATION_TRUST_ACCOUNT); only computer accounts can be adopted`,
        { field: 'account' },
      )
    }
    // Keep the account's own types when they are usable (AES, no DES); otherwise the default:
    // krbfleet derives and hands out AES keys only (RFC 3962).
    const usable = existing.encryptionTypes !== null && isUsableEncryptionTypes(existing.encryptionTypes)
    const encryptionTypes =
      explicitTypes ??
      (usable ? existing.encryptionTypes : null) ??
      this.#o.defaultEncryptionTypes ??
      DEFAULT_ENCRYPTION_TYPES
    const changes: Record<string, string> = {}
    if (!isManagedDescription(existing.description)) changes.description = MANAGED_DESCRIPTION
    if (existing.encryptionTypes !== encryptionTypes)
      changes['msDS-SupportedEncryptionTypes'] = String(encryptionTypes)
    const plan: AccountChange = {
      account: account.id,
      action: 'adopt',
      dryRun,
      dn: existing.dn,
      attributes: { ...changes, unicodePwd: SECRET_PLACEHOLDER },
      kvno: null,
    }
    if (dryRun) return plan
    this.#requireEncrypted()
    const { directory } = this.#o
    const kvno = await this.#withNewSecret(
      account,
      {
        dn: existing.dn,
        dnsHostName: existing.dnsHostName ?? '',
        encryptionTypes,
        adopted: true,
      },
      'adopt',
      existing.kvno,
      async (password) => {
        if (Object.keys(changes).length > 0) await directory.modifyAccount(existing.dn, changes)
        await directory.setPassword(existing.dn, password)
      },
      'continue',
      ctx,
    )
    this.#log.info({ account: account.id, dn: existing.dn, kvno, actor: ctx.actor }, 'account adopted')
    return { ...plan, kvno }
  }

  async resetPassword(request: PasswordResetRequest, ctx: CallContext): Promise<AccountChange> {
    const account = accountInDomain(request.account, this.#o.domain)
    if (request.dryRun !== true) await this.#finishDecidedRemoval(account)
    const ad = await this.#requireInDirectory(account)
    const stored = await this.#o.store.get(account.id)
    if (!stored) {
      throw new KrbfleetError(
        ErrorCode.RuleViolation,
        `account: ${account.id} is not managed by krbfleet; adopt it first (krbfleet account new ${account.id} --adopt)`,
        { field: 'account' },
      )
    }
    const plan: AccountChange = {
      account: account.id,
      action: 'password-reset',
      dryRun: request.dryRun === true,
      dn: ad.dn,
      attributes: { unicodePwd: SECRET_PLACEHOLDER },
      kvno: null,
    }
    if (plan.dryRun) return plan
    this.#requireEncrypted()
    const kvno = await this.#withNewSecret(
      account,
      {
        dn: ad.dn,
        dnsHostName: ad.dnsHostName ?? stored.record.dnsHostName,
        encryptionTypes: stored.record.encryptionTypes,
        adopted: stored.record.adopted,
      },
      'reset',
      ad.kvno,
      (password) => this.#o.directory.setPassword(ad.dn, password),
      'continue',
      ctx,
    )
    this.#log.info({ account: account.id, kvno, actor: ctx.actor }, 'password reset')
    return { ...plan, kvno }
  }

  async remove(request: AccountRemoveRequest, ctx: CallContext): Promise<AccountChange> {
    const account = accountInDomain(request.account, this.#o.domain)
    const ad = await this.#o.directory.findAccount(account.samAccountName)
    const stored = await this.#o.store.get(account.id)
    if (!ad && !stored) {
      throw new KrbfleetError(ErrorCode.NotFound, `account: ${account.id} does not exist`, {
        field: 'account',
      })
    }
    if (ad && !stored && !isManagedDescription(ad.description)) {
      // Deleting an AD object krbfleet never owned would be a surprise: refuse.
      throw new KrbfleetError(
        ErrorCode.RuleViolation,
        `account: ${account.id} at ${ad.dn} is not managed by krbfleet; remove it with AD tools if intended`,
        { field: 'account' },
      )
    }
    // Removing an account the enabled topology still assigns breaks those sites' Kerberos at once
    // (their SPNs and keys go with it); like Lync's Remove-CsKerberosAccountAssignment first.
    const sites = await this.#o.assignments.sitesOf(account.id)
    if (sites.length > 0 && request.force !== true) {
      throw new KrbfleetError(
        ErrorCode.RuleViolation,
        `account: ${account.id} is assigned to site${sites.length > 1 ? 's' : ''} ${sites.join(', ')} in the enabled topology; remove the assignment${sites.length > 1 ? 's' : ''} and enable the topology first, or force the removal (--force)`,
        { field: 'account', details: { sites } },
      )
    }
    const dn = ad?.dn ?? stored?.record.dn ?? ''
    const plan: AccountChange = {
      account: account.id,
      action: 'remove',
      dryRun: request.dryRun === true,
      dn,
      attributes: {},
      kvno: null,
    }
    if (plan.dryRun) return plan
    // The decision is recorded first (removing + the event it owes, with an id derived from the
    // record), so a crash anywhere below is finished by the sweep: AD delete, event, purge.
    const at = this.#now().toISOString()
    const base: AccountRecord = stored?.record ?? {
      account: account.id,
      dn,
      samAccountName: account.samAccountName,
      dnsHostName: ad?.dnsHostName ?? '',
      encryptionTypes: ad?.encryptionTypes ?? this.#o.defaultEncryptionTypes ?? DEFAULT_ENCRYPTION_TYPES,
      adopted: false,
      createdAt: at,
      updatedAt: at,
      secret: null,
      pending: null,
    }
    const removed = KerberosAccountRemoved.create(
      { account: account.id, dn },
      { ...this.#meta(ctx), id: accountEventId(account.id, base.createdAt, 'removed', null) },
    )
    const marked: AccountRecord = {
      ...base,
      removing: true,
      // Exactly the object decided on: the sweep must never delete a later one under this name.
      removalTarget: ad ? { dn: ad.dn, objectGuid: ad.objectGuid ?? null } : null,
      updatedAt: at,
      outbox: [...(base.outbox ?? []).filter((e) => (e as EventEnvelope).id !== removed.id), removed],
    }
    if (stored) await this.#o.store.update(marked, stored.revision)
    else await this.#o.store.create(marked)
    try {
      await this.#finishRemoval(account.id)
    } catch (err) {
      if (!isDefiniteRefusal(err)) {
        this.#log.warn({ err, account: account.id }, 'removal interrupted; the sweep finishes it')
        throw new KrbfleetError(
          ErrorCode.Unavailable,
          `account: the removal of ${account.id} is recorded but not finished (${err instanceof KrbfleetError ? err.message : 'unexpected failure'}); it will be finished by the service`,
          { field: 'account', retryable: true, cause: err, details: { outcome: 'unknown' } },
        )
      }
      // The DC refused the delete: nothing happened, so the decision is withdrawn.
      const now = await this.#o.store.get(account.id)
      if (now && !stored) await this.#o.store.delete(account.id)
      else if (now) {
        const { removing: _r, removalTarget: _t, ...rest } = markPublished(now.record, [removed.id])
        await this.#o.store.update(rest, now.revision)
      }
      throw err
    }
    this.#log.info({ account: account.id, dn, actor: ctx.actor }, 'account removed')
    return plan
  }

  /** AD delete (if still there), the owed events, then the record: each step idempotent. */
  async #finishRemoval(id: string): Promise<void> {
    const stored = await this.#o.store.get(id)
    if (!stored?.record.removing) return
    const ad = await this.#o.directory.findAccount(stored.record.samAccountName)
    if (ad && isRemovalTarget(stored.record, ad)) {
      try {
        await this.#o.directory.deleteAccount(ad.dn)
      } catch (err) {
        if (!(err instanceof KrbfleetError && err.code === ErrorCode.NotFound)) throw err
      }
    } else if (ad) {
      this.#log.warn(
        { account: id, dn: ad.dn },
        'the AD object now under this name is not the one whose removal was decided; left alone',
      )
    }
    for (const envelope of stored.record.outbox ?? []) await this.#o.events.publish(envelope as EventEnvelope)
    await this.#o.store.delete(id)
  }

  /**
   * A create or reset on an account whose removal was decided but not finished (a crash, a DC or
   * NATS failure during `remove`) first finishes that removal: continuing the record would carry
   * the removal into the new life, and the sweep would then delete the NEW object. When it cannot
   * be finished now, the caller gets a retryable conflict and nothing is written.
   */
  async #finishDecidedRemoval(account: AccountName): Promise<void> {
    const stored = await this.#o.store.get(account.id)
    if (!stored?.record.removing) return
    try {
      await this.#finishRemoval(account.id)
    } catch (err) {
      this.#log.warn({ err, account: account.id }, 'could not finish an earlier removal')
      throw new KrbfleetError(
        ErrorCode.Conflict,
        `account: the earlier removal of ${account.id} is not finished yet (${err instanceof KrbfleetError ? err.message : 'unexpected failure'}); try again once the service has finished it`,
        { field: 'account', retryable: true, cause: err },
      )
    }
    this.#log.warn({ account: account.id }, 'finished an interrupted removal before a new write')
  }

  /**
   * Publishes the events a record still owes (same ids: a repeat is a JetStream duplicate) and
   * marks them published. Returns how many it published; throws when the bus fails (the record
   * keeps them for the next sweep).
   */
  async #publishOutbox(id: string): Promise<number> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const stored = await this.#o.store.get(id)
      const outbox = (stored?.record.outbox ?? []) as EventEnvelope[]
      if (!stored || outbox.length === 0 || stored.record.removing) return 0
      for (const envelope of outbox) await this.#o.events.publish(envelope)
      try {
        await this.#o.store.update(
          markPublished(
            stored.record,
            outbox.map((e) => e.id),
          ),
          stored.revision,
        )
        return outbox.length
      } catch (err) {
        // The record moved meanwhile (another replica or operation): read again; the events are
        // already on the stream, a republish of them is dropped as a duplicate.
        if (!(err instanceof KrbfleetError && err.code === ErrorCode.Conflict)) throw err
      }
    }
    return 0
  }

  /** The event a confirmed secret owes, with an id derived from the record and the kvno. */
  #announcement(
    record: AccountRecord,
    operation: PendingOperation,
    kvno: number,
    caller: { actor: string; correlationId?: string | undefined },
  ): EventEnvelope {
    const meta = {
      actor: caller.actor,
      ...(caller.correlationId ? { correlationId: caller.correlationId } : {}),
    }
    if (operation === 'reset') {
      return PasswordReset.create(
        { account: record.account, kvno, reason: `reset by ${caller.actor}`.slice(0, 256) },
        { ...meta, id: accountEventId(record.account, record.createdAt, 'reset', kvno) },
      )
    }
    const adopted = operation === 'adopt'
    return KerberosAccountCreated.create(
      { account: record.account, dn: record.dn, kvno, encryptionTypes: record.encryptionTypes, adopted },
      {
        ...meta,
        id: accountEventId(record.account, record.createdAt, adopted ? 'adopted' : 'created', kvno),
      },
    )
  }

  async show(value: string): Promise<AccountView> {
    const account = accountInDomain(value, this.#o.domain)
    const [ad, stored] = await Promise.all([
      this.#o.directory.findAccount(account.samAccountName),
      this.#o.store.get(account.id),
    ])
    if (!ad && !stored) {
      throw new KrbfleetError(ErrorCode.NotFound, `account: ${account.id} does not exist`, {
        field: 'account',
      })
    }
    return this.#view(account.id, ad, stored?.record ?? null)
  }

  /** Managed accounts: those with a KV record plus those carrying the marker in AD. */
  async list(): Promise<AccountView[]> {
    const [marked, records] = await Promise.all([
      this.#o.directory.listMarked(),
      this.#o.store.list((key, err) =>
        this.#logSweepFailure(key, err, 'unreadable record left out of the list'),
      ),
    ])
    const views = new Map<string, AccountView>()
    const bySam = new Map(marked.map((a) => [a.samAccountName.toUpperCase(), a]))
    for (const record of records) {
      const ad = bySam.get(record.samAccountName.toUpperCase()) ?? null
      bySam.delete(record.samAccountName.toUpperCase())
      views.set(record.account, this.#view(record.account, ad, record))
    }
    for (const ad of bySam.values()) {
      const id = `${this.#o.domain.netbiosDomain.toUpperCase()}\\${ad.samAccountName.replace(/\$$/, '').toUpperCase()}`
      views.set(id, this.#view(id, ad, null))
    }
    return [...views.values()].sort((a, b) => a.account.localeCompare(b.account))
  }

  async test(value: string, ctx: CallContext): Promise<AccountTestReport> {
    const account = accountInDomain(value, this.#o.domain)
    const [ad, stored, desiredSpns] = await Promise.all([
      this.#o.directory.findAccount(account.samAccountName),
      this.#o.store.get(account.id),
      this.#o.spns.desiredSpns(account.id, ctx.actor),
    ])
    return testAccount({
      account: account.id,
      directory: ad,
      managed: stored !== null,
      secretKvno: stored?.record.secret?.kvno ?? null,
      policy: {
        expectedEncryptionTypes:
          stored?.record.encryptionTypes ?? this.#o.defaultEncryptionTypes ?? DEFAULT_ENCRYPTION_TYPES,
        maxPasswordAgeDays: this.#o.maxPasswordAgeDays,
        now: this.#now(),
      },
      desiredSpns,
    })
  }

  /**
   * Settles secrets left pending by a crash between the KV write and the AD write (run at
   * start-up and periodically): AD's kvno tells whether the write happened. The CAS on the
   * record's revision keeps two replicas from settling the same one twice.
   */
  async recoverPending(olderThanMs = 0): Promise<number> {
    let settled = 0
    const cutoff = this.#now().getTime() - olderThanMs
    const records = await this.#o.store.list((key, err) =>
      this.#logSweepFailure(key, err, 'unreadable record'),
    )
    for (const record of records) {
      // One account's failure (a DC refusal, a damaged outbox entry) must not stop the others:
      // log it and move on; the next sweep tries it again.
      try {
        settled += await this.#recoverOne(record, cutoff)
      } catch (err) {
        this.#logSweepFailure(
          record.account,
          err,
          'could not settle this account; the next sweep tries again',
        )
      }
    }
    return settled
  }

  async #recoverOne(record: AccountRecord, cutoff: number): Promise<number> {
    let settled = 0
    if (record.pending) settled += await this.#settlePending(record.account, cutoff)
    // Removals decided but not finished (a crash or a DC/NATS failure on the way).
    if (record.removing && Date.parse(record.updatedAt) <= cutoff) {
      await this.#finishRemoval(record.account)
      this.#log.warn({ account: record.account }, 'finished an interrupted removal')
      return settled + 1
    }
    // Events owed by writes already made (like topology's catchUp): the ids are the same, so a
    // publish that did reach the stream before is dropped as a duplicate.
    const published = await this.#publishOutbox(record.account)
    if (published > 0) this.#log.warn({ account: record.account, published }, 'published owed events')
    return settled + published
  }

  /** Code and message only: the record (sealed secrets) and raw causes stay out of the log. */
  #logSweepFailure(account: string, err: unknown, message: string): void {
    const e = err instanceof KrbfleetError ? err : null
    this.#log.error(
      {
        account,
        code: e?.code ?? 'internal',
        error: e ? e.message : err instanceof Error ? err.name : 'unknown failure',
      },
      message,
    )
  }

  async #settlePending(id: string, cutoff: number): Promise<number> {
    const stored = await this.#o.store.get(id)
    const pending = stored?.record.pending
    if (!stored || !pending) return 0
    // Another replica may be between its KV step and its AD write right now: leave young
    // pending secrets alone (abandoning one in flight would lose the password AD is about to get).
    if (Date.parse(pending.startedAt) > cutoff) return 0
    const ad = await this.#o.directory.findAccount(stored.record.samAccountName)
    const resolution = resolvePending(stored.record, ad?.kvno ?? null)
    const now = this.#now()
    if (resolution.action === 'confirm') {
      const announce = this.#announcement(stored.record, pending.operation, resolution.kvno, {
        actor: pending.actor ?? 'service:account',
        correlationId: pending.correlationId,
      })
      await this.#o.store.update(
        confirmSecret(stored.record, resolution.kvno, now, announce),
        stored.revision,
      )
    } else if (resolution.action === 'abandon')
      await this.#o.store.update(abandonSecret(stored.record, now), stored.revision)
    else if (resolution.action === 'delete') await this.#o.store.delete(stored.record.account)
    this.#log.warn({ account: id, action: resolution.action }, 'settled a pending secret')
    return 1
  }

  /**
   * The saga of every password write: seal + record pending, write AD, read the kvno back, confirm
   * (together with the event the write owes), publish. Only a DEFINITE refusal by the DC drops the
   * pending secret (or the record of a failed create): an LDAP operation the DC answered with an
   * error did not happen (RFC 4511 section 4.6: a modify is atomic). A timeout or a lost connection
   * says nothing about whether the DC applied the unicodePwd replace (MS-ADTS 3.1.1.3.1.5.1), so the
   * pending secret stays for recoverPending(), which decides by AD's kvno.
   */
  async #withNewSecret(
    account: AccountName,
    facts: { dn: string; dnsHostName: string; encryptionTypes: number; adopted: boolean },
    operation: PendingOperation,
    previousKvno: number | null,
    writeDirectory: (password: string) => Promise<void>,
    /** 'new' starts a new life of the record (a create where AD has no object); 'continue' keeps it. */
    life: 'new' | 'continue',
    ctx: CallContext,
  ): Promise<number> {
    const { store, secrets, directory } = this.#o
    const password = generatePassword(this.#o.randomBytes, this.#o.passwordLength)
    const input = {
      account: account.id,
      samAccountName: account.samAccountName,
      ...facts,
    }
    const before = await this.#recordBeforeWrite(account, life)
    const pending = beginSecret(
      life === 'new' ? null : (before?.record ?? null),
      input,
      secrets.seal(account.id, password),
      operation,
      previousKvno,
      this.#now(),
      { actor: ctx.actor, ...(ctx.correlationId ? { correlationId: ctx.correlationId } : {}) },
    )
    const revision = before ? await store.update(pending, before.revision) : await store.create(pending)
    try {
      await writeDirectory(password)
    } catch (err) {
      if (!isDefiniteRefusal(err)) throw this.#outcomeUnknown(account, 'the AD password write', err)
      try {
        if (life === 'continue' && before?.record.secret)
          await store.update(abandonSecret(pending, this.#now()), revision)
        else await store.delete(account.id)
      } catch (cleanup) {
        this.#log.error({ err: cleanup, account: account.id }, 'could not drop the pending secret')
      }
      throw err
    }
    let kvno: number | null
    try {
      kvno = await directory.readKvno(facts.dn)
      if (kvno === null) {
        throw new KrbfleetError(
          ErrorCode.Internal,
          `msDS-KeyVersionNumber of ${facts.dn} is not readable after the password write`,
        )
      }
      await store.update(
        confirmSecret(pending, kvno, this.#now(), this.#announcement(pending, operation, kvno, ctx)),
        revision,
      )
    } catch (err) {
      // AD took the password; the sweep confirms the pending secret from AD's kvno.
      throw this.#outcomeUnknown(account, 'confirming the AD password write', err)
    }
    try {
      await this.#publishOutbox(account.id)
    } catch (err) {
      // The write is done and recorded; the event stays in the record's outbox for the sweep.
      this.#log.warn({ err, account: account.id }, 'could not publish the account event yet; the sweep will')
    }
    return kvno
  }

  /**
   * The record a password write starts from. A decided removal is never continued (beginSecret
   * refuses it). Before a new life replaces an old record, the old one must owe nothing: its owed
   * events are published first, and a pending secret of its own must be settled by the sweep.
   */
  async #recordBeforeWrite(account: AccountName, life: 'new' | 'continue'): Promise<StoredRecord | null> {
    const before = await this.#o.store.get(account.id)
    if (!before || life === 'continue' || before.record.removing) return before
    if (before.record.pending) {
      throw new KrbfleetError(
        ErrorCode.Conflict,
        `account: an earlier password write for ${account.id} has an unknown outcome and is not settled yet; try again once the service has settled it`,
        { field: 'account', retryable: true },
      )
    }
    if ((before.record.outbox ?? []).length === 0) return before
    try {
      await this.#publishOutbox(account.id)
    } catch (err) {
      throw new KrbfleetError(
        ErrorCode.Unavailable,
        `account: events owed for the earlier life of ${account.id} cannot be published now (${err instanceof KrbfleetError ? err.message : 'unexpected failure'}); try again`,
        { field: 'account', retryable: true, cause: err },
      )
    }
    const after = await this.#o.store.get(account.id)
    if ((after?.record.outbox ?? []).length > 0 || after?.record.pending || after?.record.removing) {
      throw new KrbfleetError(
        ErrorCode.Conflict,
        `account: the record of ${account.id} was changed by someone else meanwhile; try again`,
        { field: 'account', retryable: true },
      )
    }
    return after
  }

  #outcomeUnknown(account: AccountName, step: string, err: unknown): KrbfleetError {
    const reason = err instanceof KrbfleetError ? err.message : 'unexpected failure'
    this.#log.warn({ err, account: account.id, step }, 'outcome of a password write unknown; kept pending')
    return new KrbfleetError(
      ErrorCode.Unavailable,
      `account: the outcome of ${step} for ${account.id} is unknown (${reason}); the new secret is kept pending and will be reconciled from AD's kvno`,
      { field: 'account', retryable: true, cause: err, details: { outcome: 'unknown' } },
    )
  }

  #view(id: string, ad: DirectoryAccount | null, record: AccountRecord | null): AccountView {
    const encryptionTypes = ad?.encryptionTypes ?? record?.encryptionTypes ?? null
    return {
      account: id,
      dn: ad?.dn ?? record?.dn ?? '',
      samAccountName: ad?.samAccountName ?? record?.samAccountName ?? '',
      dnsHostName: ad?.dnsHostName ?? record?.dnsHostName ?? null,
      description: ad?.description ?? null,
      userAccountControl: ad?.userAccountControl ?? null,
      encryptionTypes,
      encryptionTypeNames: encryptionTypeNames(encryptionTypes),
      kvno: ad?.kvno ?? null,
      passwordLastSet: ad?.passwordLastSet?.toISOString() ?? null,
      servicePrincipalNames: ad?.servicePrincipalNames ?? [],
      existsInDirectory: ad !== null,
      managed: record !== null,
      adopted: record?.adopted ?? false,
      secretKvno: record?.secret?.kvno ?? null,
    }
  }

  async #requireInDirectory(account: AccountName): Promise<DirectoryAccount> {
    const ad = await this.#o.directory.findAccount(account.samAccountName)
    if (!ad)
      throw new KrbfleetError(ErrorCode.NotFound, `account: ${account.id} does not exist in the directory`, {
        field: 'account',
      })
    return ad
  }

  #requireEncrypted(): void {
    if (!this.#o.directory.encrypted) {
      // Windows AD refuses unicodePwd over plain LDAP; Samba can be configured to accept it, so
      // krbfleet refuses itself (MS-ADTS 3.1.1.3.1.5.1, lab/NOTES.md).
      throw new KrbfleetError(
        ErrorCode.InsecureConnection,
        'the directory connection is not encrypted; password writes need LDAPS or StartTLS',
      )
    }
  }

  /** Envelope metadata of the caller; the ids come from {@link accountEventId}. */
  #meta(ctx: CallContext) {
    return { actor: ctx.actor, ...(ctx.correlationId ? { correlationId: ctx.correlationId } : {}) }
  }
}
