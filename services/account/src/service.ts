import {
  type AccountChange,
  type AccountCreateRequest,
  type AccountName,
  type AccountRemoveRequest,
  type AccountTestReport,
  type AccountView,
  ErrorCode,
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
  beginSecret,
  confirmSecret,
  type PendingOperation,
  resolvePending,
} from './domain/record.ts'
import type {
  AccountDirectory,
  AccountStore,
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
    )
    await this.#o.events.publish(
      KerberosAccountCreated.create(
        { account: account.id, dn, kvno, encryptionTypes, adopted: false },
        this.#meta(ctx),
      ),
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
    )
    await this.#o.events.publish(
      KerberosAccountCreated.create(
        { account: account.id, dn: existing.dn, kvno, encryptionTypes, adopted: true },
        this.#meta(ctx),
      ),
    )
    this.#log.info({ account: account.id, dn: existing.dn, kvno, actor: ctx.actor }, 'account adopted')
    return { ...plan, kvno }
  }

  async resetPassword(request: PasswordResetRequest, ctx: CallContext): Promise<AccountChange> {
    const account = accountInDomain(request.account, this.#o.domain)
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
    )
    await this.#o.events.publish(
      PasswordReset.create(
        { account: account.id, kvno, reason: `reset by ${ctx.actor}`.slice(0, 256) },
        this.#meta(ctx),
      ),
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
    if (ad) await this.#o.directory.deleteAccount(ad.dn)
    await this.#o.store.delete(account.id)
    await this.#o.events.publish(KerberosAccountRemoved.create({ account: account.id, dn }, this.#meta(ctx)))
    this.#log.info({ account: account.id, dn, actor: ctx.actor }, 'account removed')
    return plan
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
    const [marked, records] = await Promise.all([this.#o.directory.listMarked(), this.#o.store.list()])
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
    for (const record of await this.#o.store.list()) {
      if (!record.pending) continue
      const stored = await this.#o.store.get(record.account)
      if (!stored?.record.pending) continue
      // Another replica may be between its KV step and its AD write right now: leave young
      // pending secrets alone (abandoning one in flight would lose the password AD is about to get).
      if (Date.parse(stored.record.pending.startedAt) > cutoff) continue
      const ad = await this.#o.directory.findAccount(stored.record.samAccountName)
      const resolution = resolvePending(stored.record, ad?.kvno ?? null)
      const now = this.#now()
      if (resolution.action === 'confirm')
        await this.#o.store.update(confirmSecret(stored.record, resolution.kvno, now), stored.revision)
      else if (resolution.action === 'abandon')
        await this.#o.store.update(abandonSecret(stored.record, now), stored.revision)
      else if (resolution.action === 'delete') await this.#o.store.delete(stored.record.account)
      this.#log.warn({ account: record.account, action: resolution.action }, 'settled a pending secret')
      settled++
    }
    return settled
  }

  /**
   * The saga of every password write: seal + record pending, write AD, read the kvno back, confirm.
   * A failed AD write drops the pending secret (or the whole record of a failed create).
   */
  async #withNewSecret(
    account: AccountName,
    facts: { dn: string; dnsHostName: string; encryptionTypes: number; adopted: boolean },
    operation: PendingOperation,
    previousKvno: number | null,
    writeDirectory: (password: string) => Promise<void>,
  ): Promise<number> {
    const { store, secrets, directory } = this.#o
    const password = generatePassword(this.#o.randomBytes, this.#o.passwordLength)
    const input = {
      account: account.id,
      samAccountName: account.samAccountName,
      ...facts,
    }
    const before: StoredRecord | null = await store.get(account.id)
    const pending = beginSecret(
      before?.record ?? null,
      input,
      secrets.seal(account.id, password),
      operation,
      previousKvno,
      this.#now(),
    )
    let revision = before ? await store.update(pending, before.revision) : await store.create(pending)
    try {
      await writeDirectory(password)
    } catch (err) {
      try {
        if (before?.record.secret) await store.update(abandonSecret(pending, this.#now()), revision)
        else await store.delete(account.id)
      } catch (cleanup) {
        this.#log.error({ err: cleanup, account: account.id }, 'could not drop the pending secret')
      }
      throw err
    }
    const kvno = await directory.readKvno(facts.dn)
    if (kvno === null) {
      throw new KrbfleetError(
        ErrorCode.Internal,
        `msDS-KeyVersionNumber of ${facts.dn} is not readable after the password write`,
      )
    }
    revision = await store.update(confirmSecret(pending, kvno, this.#now()), revision)
    return kvno
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

  /**
   * Event ids are random per operation: the bus retries a publish with the same envelope (so a
   * retry is a duplicate JetStream drops), while a create after a remove is a new event.
   */
  #meta(ctx: CallContext) {
    return { actor: ctx.actor, ...(ctx.correlationId ? { correlationId: ctx.correlationId } : {}) }
  }
}
