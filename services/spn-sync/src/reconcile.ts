import { createHash } from 'node:crypto'
import {
  ErrorCode,
  KrbfleetError,
  parseAccountName,
  type SpnConflict,
  SpnConflictDetected,
  type SpnReconcileResult,
} from '@krbfleet/contracts'
import type { Logger } from '@krbfleet/logging'
import { type ConflictCheck, checkAdditions, readAccountState } from './account-state.ts'
import { AccountTurns } from './account-turns.ts'
import {
  diff,
  managedSpns,
  newConflicts,
  type OwnershipRecord,
  type SpnConflictRecord,
  spnKey,
} from './domain/index.ts'
import { AccountBusyError } from './errors.ts'
import type {
  AccountLeases,
  EventSink,
  Failpoint,
  HeldLease,
  OwnershipStore,
  SpnDirectory,
  TopologyReader,
} from './ports.ts'
import { type AccountRun, SERVICE_ACTOR, SpnWriter, type StoredRecord } from './spn-write.ts'

export interface ReconcileMetrics {
  /** One finished reconcile of an account with its outcome and duration. */
  reconciled(outcome: AccountOutcome['outcome'], seconds: number): void
  changed(added: number, removed: number): void
  conflictsDetected(count: number): void
  /** A reconcile put off because another replica (or run) is at work on the account. */
  deferred?(): void
}

export interface ReconcileLoopOptions {
  topology: TopologyReader
  ownership: OwnershipStore
  /** Per-account leases: two replicas never reconcile one account at the same time. */
  leases: AccountLeases
  directory: SpnDirectory
  events: EventSink
  logger: Logger
  metrics?: ReconcileMetrics
  /** Test seam: called at the named point of a write (a test throws there, or kills its process). */
  failpoint?: (point: Failpoint) => void
}

export type AccountOutcome = SpnReconcileResult['accounts'][number]

/**
 * The reconcile loop (STYLE rule 4): `reconcile(account)` re-reads the enabled revision, the
 * account in AD and its ownership record, and applies the idempotent diff in one LDAP modify.
 * It is level-triggered: events and the periodic resync only say which account to look at.
 * Account ids arrive validated (service.ts).
 *
 * Every reconcile holds the account's lease in KV, taken with compare-and-set (domain/lease.ts): a
 * replica that finds another's live lease does not reconcile and throws AccountBusyError, which
 * the queue retries after a delay. Different accounts are reconciled side by side (the queue's
 * `concurrency`); runs of one account in this process take turns (AccountTurns). The ownership
 * record's own compare-and-set stays as a second guard.
 */
export class ReconcileLoop {
  readonly #topology: TopologyReader
  readonly #ownership: OwnershipStore
  readonly #leases: AccountLeases
  readonly #directory: SpnDirectory
  readonly #events: EventSink
  readonly #logger: Logger
  readonly #metrics: ReconcileMetrics | undefined
  readonly #writer: SpnWriter
  readonly #turns = new AccountTurns()

  constructor(options: ReconcileLoopOptions) {
    this.#topology = options.topology
    this.#ownership = options.ownership
    this.#leases = options.leases
    this.#directory = options.directory
    this.#events = options.events
    this.#logger = options.logger.child({ component: 'reconciler' })
    this.#metrics = options.metrics
    this.#writer = new SpnWriter({
      ownership: options.ownership,
      directory: options.directory,
      events: options.events,
      failpoint: options.failpoint ?? (() => {}),
      changed: (added, removed) => this.#metrics?.changed(added, removed),
    })
  }

  /** Brings one account to the desired state. Throws a retryable error to be retried with backoff. */
  reconcile(account: string): Promise<AccountOutcome> {
    return this.#turns.inTurn(account, async () => {
      const started = performance.now()
      try {
        const outcome = await this.#leased(account, (lease) => this.#reconcile(account, 0, lease))
        this.#metrics?.reconciled(outcome.outcome, (performance.now() - started) / 1000)
        return outcome
      } catch (err) {
        if (err instanceof AccountBusyError) {
          // Not a failure: someone else is doing this very work; the queue comes back later.
          this.#logger.debug({ account, err }, 'account busy in another replica or run; deferred')
          this.#metrics?.deferred?.()
        } else {
          this.#metrics?.reconciled('failed', (performance.now() - started) / 1000)
        }
        throw err
      }
    })
  }

  /**
   * KerberosAccountRemoved: the account no longer exists, so krbfleet owns nothing on it. Its
   * ownership record and lease key are dropped under its lease (a reconcile of it in flight in
   * another replica finishes first: AccountBusyError, retried by the consumer). A later reconcile
   * of the name finds no account in AD and writes nothing.
   *
   * `removedAt` is the event's occurredAt. Removal and creation reach spn-sync through different
   * durable consumers, so a removal may be handled late, after the name was created again and
   * reconciled: the record then belongs to the new account and must stay, or krbfleet would no
   * longer own the SPNs it has just written. The record is kept when both hold: AD has an account
   * of that name now (the account service deletes the object before it publishes the removal, so
   * an object present now was created since), and the record was written after the removal was
   * decided (it is the new account's, not the old one's). A reconcile of the old account between
   * the decision and the AD delete can also write after `removedAt`, but then AD holds no object,
   * and the record is dropped. Timestamps of two hosts are compared: a re-create and reconcile
   * within their clock skew of the removal could still be misjudged; the SPNs of a record dropped
   * that way stay on the account as foreign ones (never removed wrongly, only no longer removed).
   */
  forget(account: string, removedAt?: string): Promise<void> {
    const removedMs = removedAt === undefined ? Number.NaN : Date.parse(removedAt)
    return this.#turns.inTurn(account, async () => {
      const lease = await this.#leases.acquire(account)
      let forgotten = false
      try {
        lease.assertHeld()
        if (Number.isFinite(removedMs) && (await this.#recreatedSince(account, removedMs))) {
          this.#logger.info(
            { account, removedAt },
            'late removal of an account created again since; its SPN ownership record stays',
          )
          return
        }
        lease.assertHeld()
        await this.#ownership.remove(account)
        forgotten = true
        this.#logger.info({ account }, 'account removed; its SPN ownership record is dropped')
      } finally {
        await lease.release({ forget: forgotten })
      }
    })
  }

  /** True when AD holds the account again and its ownership record was written after `removedMs`. */
  async #recreatedSince(account: string, removedMs: number): Promise<boolean> {
    const stored = await this.#ownership.read(account)
    if (stored === null || !(Date.parse(stored.record.updatedAt) > removedMs)) return false
    const { samAccountName } = parseAccountName(account)
    return (await this.#directory.findAccount(samAccountName)) !== null
  }

  /** Runs `work` holding the account's lease, and gives the lease up afterwards. */
  async #leased<T>(account: string, work: (lease: HeldLease) => Promise<T>): Promise<T> {
    const lease = await this.#leases.acquire(account)
    try {
      return await work(lease)
    } finally {
      await lease.release()
    }
  }

  /** spn.reconcile: the accounts now, one after the other; failures are reported per account, not thrown. */
  async reconcileNow(accounts: string[]): Promise<SpnReconcileResult> {
    const results: AccountOutcome[] = []
    for (const a of accounts) {
      try {
        results.push(await this.#reconcileRetrying(a))
      } catch (err) {
        const message = err instanceof KrbfleetError ? err.message : 'internal error'
        this.#logger.warn({ account: a, err }, 'reconcile failed')
        results.push({ account: a, outcome: 'failed', added: [], removed: [], conflicts: [], error: message })
      }
    }
    const revision = await this.#topology.enabled()
    return { revision: revision?.revision ?? 0, accounts: results }
  }

  /**
   * An operator's "reconcile now" should not fail on a race the queue would absorb (another replica
   * writing the same account, AD changed between read and write): a few immediate attempts.
   */
  async #reconcileRetrying(account: string): Promise<AccountOutcome> {
    // Another replica holding the account finishes in milliseconds, or its lease expires within
    // seconds if it died: wait for it (bounded) rather than answer "failed".
    const busyDeadline = Date.now() + BUSY_WAIT_MS
    let raced = 0
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.reconcile(account)
      } catch (err) {
        if (err instanceof AccountBusyError && Date.now() < busyDeadline) {
          await delay(Math.min(1_000, 50 * 2 ** Math.min(attempt, 5)))
          continue
        }
        const conflict = err instanceof KrbfleetError && err.code === ErrorCode.Conflict && err.retryable
        raced += 1
        if (!conflict || err instanceof AccountBusyError || raced >= 3) throw err
        this.#logger.info({ account, attempt, err }, 'reconcile raced with another change; trying again')
      }
    }
  }

  /**
   * One account under its lease: (1) complete a write a crashed run left behind (SpnWriter), (2)
   * diff and check the additions, (3) report new conflicts, (4) record or write the result.
   */
  async #reconcile(account: string, depth: number, lease: HeldLease): Promise<AccountOutcome> {
    const logger = this.#logger.child({ account })
    const revision = await this.#topology.enabled()
    if (revision === null) {
      // Nothing enabled yet means no desired state, not "desire nothing": never strip SPNs then.
      logger.debug('no enabled topology revision; nothing to reconcile')
      return unchanged(account)
    }
    const state = await readAccountState(this.#readers(), account, revision)
    if (state === null) {
      logger.info('account not found in the directory; it is reconciled once it exists')
      return { ...unchanged(account), outcome: 'missing-account' }
    }
    const run: AccountRun = { account, depth, lease, logger, revision, state }
    const stored = await this.#writer.completePending(run, state.stored)
    const managed = managedSpns(stored.record)
    const change = diff({ desired: state.desired, actual: state.entry.servicePrincipalNames, managed })
    const { writable, conflicts } = await this.#checkReleasing(run, change.add)
    await this.#reportConflicts(run, stored.record, conflicts)
    const write = { add: writable, remove: change.remove }
    if (write.add.length === 0 && write.remove.length === 0) {
      await this.#recordChecked(run, stored, conflicts)
      return { ...unchanged(account), conflicts }
    }
    await this.#writer.apply(run, stored, managed, write, conflicts)
    return { account, outcome: 'changed', added: write.add, removed: write.remove, conflicts }
  }

  /**
   * (2) A directory-wide check of every SPN to add. SPNs of a site moved here from another krbfleet
   * account are given up by that account first, in its own reconcile (its own single modify);
   * then they are free for this one.
   */
  async #checkReleasing(run: AccountRun, add: string[]): Promise<ConflictCheck> {
    const check = await checkAdditions(this.#readers(), run.state, add)
    // At depth 1 (releasing for another account) a further release is left to this account's own
    // queued reconcile; such SPNs are neither written nor reported as conflicts now.
    if (check.release.length === 0 || run.depth > 0) return check
    for (const other of check.release) {
      run.logger.info(
        { from: other },
        'releasing SPNs held by another krbfleet account that no longer wants them',
      )
      // Under that account's lease too, and without waiting for this process's own run of it (two
      // accounts releasing to each other would wait for each other for ever): if anyone is at work
      // on it, this reconcile is deferred as a whole (AccountBusyError) rather than reporting a
      // false conflict.
      await this.#turns.now(other, () =>
        this.#leased(other, (lease) => this.#reconcile(other, run.depth + 1, lease)),
      )
    }
    return checkAdditions(this.#readers(), run.state, add)
  }

  /**
   * (3) Reports conflicts not reported before, before anything is recorded (a crash re-reports them
   * with the same event id, which JetStream drops as a duplicate).
   */
  async #reportConflicts(
    run: AccountRun,
    record: OwnershipRecord,
    conflicts: SpnConflictRecord[],
  ): Promise<void> {
    const fresh = newConflicts(record.conflicts, conflicts)
    const revision = run.revision.revision
    for (const conflict of fresh) {
      run.logger.warn(
        { spn: conflict.spn, holder: conflict.holder },
        'SPN held by another object; not written',
      )
      await this.#events.publish(
        SpnConflictDetected.create(
          { account: run.account, spn: conflict.spn, holder: conflict.holder, revision },
          { actor: SERVICE_ACTOR, id: conflictEventId(run.account, conflict, revision) },
        ),
      )
    }
    if (fresh.length > 0) this.#metrics?.conflictsDetected(fresh.length)
  }

  /** (4) Nothing to write: the record only keeps the conflicts and the revision current. */
  async #recordChecked(run: AccountRun, stored: StoredRecord, conflicts: SpnConflictRecord[]): Promise<void> {
    const next: OwnershipRecord = { ...stored.record, conflicts, revision: run.revision.revision }
    if (sameRecord(next, stored.record)) return
    run.lease.assertHeld()
    await this.#ownership.write(run.account, { ...next, updatedAt: new Date().toISOString() }, stored.version)
  }

  #readers() {
    return { directory: this.#directory, ownership: this.#ownership }
  }
}

/** How long an operator's "reconcile now" waits for another replica's lease on the account. */
const BUSY_WAIT_MS = 15_000

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function unchanged(account: string): AccountOutcome {
  return { account, outcome: 'unchanged', added: [], removed: [], conflicts: [] }
}

function sameRecord(a: OwnershipRecord, b: OwnershipRecord): boolean {
  const strip = (r: OwnershipRecord) => JSON.stringify({ ...r, updatedAt: '' })
  return strip(a) === strip(b)
}

/**
 * The same conflict in the same revision always gets the same event id, so a repeat within the
 * stream's duplicate window is dropped by JetStream (STYLE rule 5).
 */
export function conflictEventId(account: string, conflict: SpnConflict, revision: number): string {
  const digest = createHash('sha256')
    .update(`${account}\u0000${spnKey(conflict.spn)}\u0000${conflict.holder.toLowerCase()}\u0000${revision}`)
    .digest('hex')
  return `spn-conflict-${digest.slice(0, 40)}`
}
