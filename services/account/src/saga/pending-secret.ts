import { type AccountName, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { beingReconciled, type RecordLife } from '../domain/decide.ts'
import { announcement, type CallContext, callerMeta } from '../domain/events.ts'
import { generatePassword } from '../domain/password.ts'
import {
  type AccountRecord,
  abandonSecret,
  beginSecret,
  confirmSecret,
  isDefiniteRefusal,
  type NewRecordInput,
  type PendingOperation,
  resolvePending,
} from '../domain/record.ts'
import { reasonOf } from '../failures.ts'
import type { AccountDirectory, AccountStore, SecretBox, StoredRecord } from '../ports.ts'
import type { AccountOutbox } from './outbox.ts'

/**
 * The saga of every new secret (ARCHITECTURE.md, the rotation protocol, steps 2 and 4): the secret
 * is sealed into the KV record as pending BEFORE the AD write, the AD write follows, and AD's
 * kvno read back confirms it together with the event the write owes, which is then published.
 *
 * The steps are separate so that a saga with work between them (the rotation: stage the sealed
 * credential to every agent after `begin`, `commit` once they acked, `withdraw` when staging
 * fails) uses the same records; create, adopt and reset run `begin` and `commit` back to back.
 *
 * Only a DEFINITE refusal by the DC drops the pending secret (or the record of a failed create):
 * an LDAP operation the DC answered with an error did not happen (RFC 4511 section 4.6: a modify is
 * atomic). A timeout or a lost connection says nothing about whether the DC applied the unicodePwd
 * replace (MS-ADTS 3.1.1.3.1.5.1), so the pending secret stays for {@link PendingSecrets.settle},
 * which decides by AD's kvno.
 */

/** One password write, as decided (domain/decide.ts). */
export interface SecretWrite {
  account: AccountName
  /** What the record says about the account after the write. */
  record: Omit<NewRecordInput, 'account' | 'samAccountName'>
  operation: PendingOperation
  /** AD's kvno before the write (null for a create). */
  previousKvno: number | null
  life: RecordLife
}

/** A secret recorded as pending, not yet written to AD. Holds the password: keep it in memory only. */
export interface PendingWrite {
  readonly account: AccountName
  readonly dn: string
  readonly password: string
  readonly operation: PendingOperation
  readonly caller: CallContext
  /** The record with the pending secret, at `revision`. */
  readonly record: AccountRecord
  readonly revision: number
  /** A refused write falls back to this record's confirmed secret; without one the record goes. */
  readonly keepsRecord: boolean
}

export interface PendingSecretsOptions {
  directory: AccountDirectory
  store: AccountStore
  secrets: SecretBox
  outbox: AccountOutbox
  logger: Logger
  now: () => Date
  randomBytes: (size: number) => Uint8Array
  passwordLength?: number | undefined
  /** How long a replaced kvno stays on the servers (record `retiring`); default 10 h. */
  maxTicketLifetimeMs?: number | undefined
}

export class PendingSecrets {
  readonly #directory: AccountDirectory
  readonly #store: AccountStore
  readonly #secrets: SecretBox
  readonly #outbox: AccountOutbox
  readonly #log: Logger
  readonly #now: () => Date
  readonly #randomBytes: (size: number) => Uint8Array
  readonly #passwordLength: number | undefined
  readonly #retireAfterMs: number | undefined

  constructor(options: PendingSecretsOptions) {
    this.#retireAfterMs = options.maxTicketLifetimeMs
    this.#directory = options.directory
    this.#store = options.store
    this.#secrets = options.secrets
    this.#outbox = options.outbox
    this.#log = options.logger
    this.#now = options.now
    this.#randomBytes = options.randomBytes
    this.#passwordLength = options.passwordLength
  }

  /** begin + commit: a password write with nothing between recording the secret and AD. Returns AD's kvno. */
  async write(
    write: SecretWrite,
    caller: CallContext,
    writeDirectory: (password: string) => Promise<void>,
  ): Promise<number> {
    return await this.commit(await this.begin(write, caller), writeDirectory)
  }

  /**
   * Generates the new password and records it sealed as pending (compare-and-set on the record).
   * Refused before anything is recorded when the directory connection is not encrypted.
   */
  async begin(write: SecretWrite, caller: CallContext): Promise<PendingWrite> {
    this.#requireEncrypted()
    const { account } = write
    const password = generatePassword(this.#randomBytes, this.#passwordLength)
    const before = await this.#recordBeforeWrite(account, write.life)
    const record = beginSecret(
      write.life === 'new' ? null : (before?.record ?? null),
      { account: account.id, samAccountName: account.samAccountName, ...write.record },
      this.#secrets.seal(account.id, password),
      write.operation,
      write.previousKvno,
      this.#now(),
      callerMeta(caller),
    )
    const revision = before
      ? await this.#store.update(record, before.revision)
      : await this.#store.create(record)
    return {
      account,
      dn: write.record.dn,
      password,
      operation: write.operation,
      caller,
      record,
      revision,
      keepsRecord: write.life === 'continue' && Boolean(before?.record.secret),
    }
  }

  /**
   * Writes AD, reads the kvno back, confirms the pending secret with the event it owes, publishes.
   * Throws the DC's refusal (after withdrawing the pending secret), or a retryable `unavailable`
   * with details.outcome 'unknown' when AD may have taken the password (kept pending for settle).
   */
  async commit(pending: PendingWrite, writeDirectory: (password: string) => Promise<void>): Promise<number> {
    const { account } = pending
    try {
      await writeDirectory(pending.password)
    } catch (err) {
      if (!isDefiniteRefusal(err)) throw this.#outcomeUnknown(account, 'the AD password write', err)
      await this.withdraw(pending)
      throw err
    }
    let kvno: number | null
    try {
      kvno = await this.#directory.readKvno(pending.dn)
      if (kvno === null) {
        throw new KrbfleetError(
          ErrorCode.Internal,
          `msDS-KeyVersionNumber of ${pending.dn} is not readable after the password write`,
        )
      }
      const now = this.#now()
      const owed = announcement(pending.record, pending.operation, kvno, pending.caller, now)
      await this.#store.update(
        confirmSecret(pending.record, kvno, now, owed, this.#retireAfterMs),
        pending.revision,
      )
    } catch (err) {
      // AD took the password; the sweep confirms the pending secret from AD's kvno.
      throw this.#outcomeUnknown(account, 'confirming the AD password write', err)
    }
    try {
      await this.#outbox.publishOwed(account.id)
    } catch (err) {
      // The write is done and recorded; the event stays in the record's outbox for the sweep.
      this.#log.warn({ err, account: account.id }, 'could not publish the account event yet; the sweep will')
    }
    return kvno
  }

  /**
   * The pending secret recorded for `account` by an earlier run (a saga resumed after a crash), with
   * its password opened again; null when the record holds none.
   */
  async resume(account: AccountName, caller: CallContext): Promise<PendingWrite | null> {
    const stored = await this.#store.get(account.id)
    const pending = stored?.record.pending
    if (!stored || !pending) return null
    return {
      account,
      dn: stored.record.dn,
      password: this.#secrets.open(account.id, pending.sealed),
      operation: pending.operation,
      caller,
      record: stored.record,
      revision: stored.revision,
      keepsRecord: Boolean(stored.record.secret),
    }
  }

  /**
   * Drops a pending secret whose AD write definitely did not happen: the record falls back to its
   * confirmed secret, or goes when it has none. Best effort: a failure is logged, and the sweep
   * settles what is left from AD's kvno.
   */
  async withdraw(
    pending: Pick<PendingWrite, 'account' | 'record' | 'revision' | 'keepsRecord'>,
  ): Promise<void> {
    try {
      if (pending.keepsRecord)
        await this.#store.update(abandonSecret(pending.record, this.#now()), pending.revision)
      else await this.#store.delete(pending.account.id)
    } catch (cleanup) {
      this.#log.error({ err: cleanup, account: pending.account.id }, 'could not drop the pending secret')
    }
  }

  /**
   * Settles a secret left pending by a crash between the KV write and the AD write, once it is
   * older than `cutoff` (ms since the epoch): AD's kvno tells whether the write happened. The CAS
   * on the record's revision keeps two replicas from settling the same one twice. Returns 1 when
   * it settled one.
   */
  async settle(account: string, cutoff: number, options: { rotation?: boolean } = {}): Promise<number> {
    const stored = await this.#store.get(account)
    const pending = stored?.record.pending
    if (!stored || !pending) return 0
    // A rotation's secret waits for its agents to stage it: its saga settles it (rotation/), and
    // hands it here only when the saga itself is gone.
    if (pending.operation === 'rotate' && options.rotation !== true) return 0
    // Another replica may be between its KV step and its AD write right now: leave young
    // pending secrets alone (abandoning one in flight would lose the password AD is about to get).
    if (Date.parse(pending.startedAt) > cutoff) return 0
    const ad = await this.#directory.findAccount(stored.record.samAccountName)
    const resolution = resolvePending(stored.record, ad?.kvno ?? null)
    const now = this.#now()
    if (resolution.action === 'confirm') {
      const caller = { actor: pending.actor ?? 'service:account', correlationId: pending.correlationId }
      const owed = announcement(stored.record, pending.operation, resolution.kvno, caller, now)
      await this.#store.update(
        confirmSecret(stored.record, resolution.kvno, now, owed, this.#retireAfterMs),
        stored.revision,
      )
    } else if (resolution.action === 'abandon')
      await this.#store.update(abandonSecret(stored.record, now), stored.revision)
    else if (resolution.action === 'delete') await this.#store.delete(stored.record.account)
    this.#log.warn({ account, action: resolution.action }, 'settled a pending secret')
    return 1
  }

  /**
   * The record a password write starts from. A decided removal is never continued (beginSecret
   * refuses it). Before a new life replaces an old record, the old one must owe nothing: its owed
   * events are published first, and a pending secret of its own must be settled by the sweep.
   */
  async #recordBeforeWrite(account: AccountName, life: RecordLife): Promise<StoredRecord | null> {
    const before = await this.#store.get(account.id)
    if (!before || life === 'continue' || before.record.removing) return before
    if (before.record.pending) throw beingReconciled(account, before.record.pending.startedAt)
    if ((before.record.outbox ?? []).length === 0) return before
    try {
      await this.#outbox.publishOwed(account.id)
    } catch (err) {
      throw new KrbfleetError(
        ErrorCode.Unavailable,
        `account: events owed for the earlier life of ${account.id} cannot be published now (${reasonOf(err)}); try again`,
        { field: 'account', retryable: true, cause: err },
      )
    }
    const after = await this.#store.get(account.id)
    if ((after?.record.outbox ?? []).length > 0 || after?.record.pending || after?.record.removing) {
      throw new KrbfleetError(
        ErrorCode.Conflict,
        `account: the record of ${account.id} was changed by someone else meanwhile; try again`,
        { field: 'account', retryable: true },
      )
    }
    return after
  }

  #requireEncrypted(): void {
    if (!this.#directory.encrypted) {
      // Windows AD refuses unicodePwd over plain LDAP; Samba can be configured to accept it, so
      // krbfleet refuses itself (MS-ADTS 3.1.1.3.1.5.1, lab/NOTES.md).
      throw new KrbfleetError(
        ErrorCode.InsecureConnection,
        'the directory connection is not encrypted; password writes need LDAPS or StartTLS',
      )
    }
  }

  #outcomeUnknown(account: AccountName, step: string, err: unknown): KrbfleetError {
    this.#log.warn({ err, account: account.id, step }, 'outcome of a password write unknown; kept pending')
    return new KrbfleetError(
      ErrorCode.Unavailable,
      `account: the outcome of ${step} for ${account.id} is unknown (${reasonOf(err)}); the new secret is kept pending and being reconciled from AD's kvno: \`krbfleet account test ${account.id}\` shows when it is settled (no reset or --adopt is needed)`,
      { field: 'account', retryable: true, cause: err, details: { outcome: 'unknown' } },
    )
  }
}
