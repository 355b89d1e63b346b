import { createHash, randomUUID } from 'node:crypto'
import {
  type AccountSpnPlan,
  ErrorCode,
  KrbfleetError,
  parseAccountName,
  type SpnConflict,
  SpnConflictDetected,
  type SpnDesired,
  type SpnDuplicates,
  type SpnHolder,
  type SpnListing,
  type SpnPlan,
  type SpnQueryResult,
  SpnsReconciled,
  type SpnReconcileResult,
  type TopologyRevision,
} from '@krbfleet/contracts'
import type { Logger } from '@krbfleet/logging'
import {
  accountId,
  accountsOf,
  applyDiff,
  canonicalSpn,
  desiredSpnsOf,
  diff,
  managedSpns,
  newConflicts,
  type OwnershipRecord,
  outcomeOfPending,
  ownedAfter,
  ownedAfterPending,
  emptyOwnership,
  type SpnConflictRecord,
  type SpnDiff,
  SpnSet,
  spnKey,
} from './domain/index.ts'
import { AccountBusyError } from './errors.ts'
import type {
  AccountEntry,
  AccountLeases,
  EventSink,
  Failpoint,
  HeldLease,
  OwnershipStore,
  SpnDirectory,
  SpnHolderEntry,
  TopologyReader,
} from './ports.ts'

export const SERVICE_ACTOR = 'service:spn-sync'

export interface ReconcileMetrics {
  /** One finished reconcile of an account with its outcome and duration. */
  reconciled(outcome: AccountOutcome['outcome'], seconds: number): void
  changed(added: number, removed: number): void
  conflictsDetected(count: number): void
  /** A reconcile put off because another replica holds the account's lease. */
  deferred?(): void
}

export interface SpnReconcilerOptions {
  topology: TopologyReader
  ownership: OwnershipStore
  /** Per-account leases: two replicas never reconcile one account at the same time. */
  leases: AccountLeases
  directory: SpnDirectory
  events: EventSink
  logger: Logger
  metrics?: ReconcileMetrics
  /** Test-only fault injection: called at the named point of a write (main.ts kills the process). */
  failpoint?: (point: Failpoint) => void
}

export type AccountOutcome = SpnReconcileResult['accounts'][number]

/** The parts of one account's state a reconcile or a plan works from. */
interface AccountState {
  account: string
  revision: TopologyRevision
  desired: SpnSet
  entry: AccountEntry
  stored: { record: OwnershipRecord; version: number | null }
}

interface ConflictCheck {
  /** Additions that are free to write. */
  writable: string[]
  conflicts: SpnConflictRecord[]
  /** krbfleet accounts that hold an SPN they no longer want, which this account now wants. */
  release: string[]
}

/**
 * The SPN reconciler (STYLE rule 4): `reconcile(account)` re-reads the enabled revision, the
 * account in AD and its ownership record, and applies the idempotent diff in one LDAP modify.
 * It is level-triggered: events and the periodic resync only say which account to look at.
 *
 * Reconciles in one process run one at a time (an account's reconcile may reconcile another account
 * that must give an SPN up first). Replicas are kept apart per account by a lease in KV taken with
 * compare-and-set (domain/lease.ts): a replica that finds another's live lease does not reconcile
 * and throws AccountBusyError, which the queue retries after a delay. The ownership record's own
 * compare-and-set stays as a second guard.
 */
export class SpnReconciler {
  readonly #topology: TopologyReader
  readonly #ownership: OwnershipStore
  readonly #leases: AccountLeases
  readonly #directory: SpnDirectory
  readonly #events: EventSink
  readonly #logger: Logger
  readonly #metrics: ReconcileMetrics | undefined
  readonly #failpoint: (point: Failpoint) => void
  #tail: Promise<unknown> = Promise.resolve()

  constructor(options: SpnReconcilerOptions) {
    this.#topology = options.topology
    this.#ownership = options.ownership
    this.#leases = options.leases
    this.#directory = options.directory
    this.#events = options.events
    this.#logger = options.logger.child({ component: 'reconciler' })
    this.#metrics = options.metrics
    this.#failpoint = options.failpoint ?? (() => {})
  }

  /** Every account to look at: those of the enabled revision and those krbfleet still owns SPNs on. */
  async accounts(): Promise<string[]> {
    const revision = await this.#topology.enabled()
    const owned = await this.#ownership.accounts()
    return [...new Set([...accountsOf(revision), ...owned.map(accountId)])].sort()
  }

  /** Brings one account to the desired state. Throws a retryable error to be retried with backoff. */
  reconcile(account: string): Promise<AccountOutcome> {
    const id = parseAccount(account)
    return this.#exclusive(async () => {
      const started = performance.now()
      try {
        const outcome = await this.#leased(id, (lease) => this.#reconcile(id, 0, lease))
        this.#metrics?.reconciled(outcome.outcome, (performance.now() - started) / 1000)
        return outcome
      } catch (err) {
        if (err instanceof AccountBusyError) {
          // Not a failure: the other replica is doing this very work; the queue comes back later.
          this.#logger.debug({ account: id, err }, 'account leased by another replica; deferred')
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
    const id = parseAccount(account)
    const removedMs = removedAt === undefined ? Number.NaN : Date.parse(removedAt)
    return this.#exclusive(async () => {
      const lease = await this.#leases.acquire(id)
      let forgotten = false
      try {
        lease.assertHeld()
        if (Number.isFinite(removedMs) && (await this.#recreatedSince(id, removedMs))) {
          this.#logger.info(
            { account: id, removedAt },
            'late removal of an account created again since; its SPN ownership record stays',
          )
          return
        }
        lease.assertHeld()
        await this.#ownership.remove(id)
        forgotten = true
        this.#logger.info({ account: id }, 'account removed; its SPN ownership record is dropped')
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

  /** spn.reconcile: every account (or one) now; failures are reported per account, not thrown. */
  async reconcileNow(account?: string): Promise<SpnReconcileResult> {
    const accounts = account === undefined ? await this.accounts() : [parseAccount(account)]
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

  async #reconcile(account: string, depth: number, lease: HeldLease): Promise<AccountOutcome> {
    const logger = this.#logger.child({ account })
    const revision = await this.#topology.enabled()
    if (revision === null) {
      // Nothing enabled yet means no desired state, not "desire nothing": never strip SPNs then.
      logger.debug('no enabled topology revision; nothing to reconcile')
      return unchanged(account)
    }
    const state = await this.#readState(account, revision)
    if (state === null) {
      logger.info('account not found in the directory; it is reconciled once it exists')
      return { ...unchanged(account), outcome: 'missing-account' }
    }
    let { record, version } = state.stored

    // 1. Take over a pending write. We hold the account's lease, so its writer is not at work: it
    // died (its lease expired), or an earlier run here ended with the modify's outcome unknown.
    // A modify of such a run may still land late; ownedAfterPending keeps its desired additions
    // owned either way.
    if (record.pending !== null) {
      const done = outcomeOfPending(record.pending, state.entry.servicePrincipalNames)
      logger.warn({ pending: record.pending, done }, 'completing an interrupted SPN write')
      if (done.added.length > 0 || done.removed.length > 0) {
        await this.#publishReconciled(
          account,
          done.added,
          done.removed,
          record.pending.revision,
          record.pending.id,
        )
      }
      record = {
        ...record,
        spns: ownedAfterPending(record, state.entry.servicePrincipalNames, state.desired),
        pending: null,
        updatedAt: new Date().toISOString(),
      }
      lease.assertHeld()
      version = await this.#ownership.write(account, record, version)
    }

    // 2. The diff, and a directory-wide check of every SPN to add.
    const managed = managedSpns(record)
    const change = diff({ desired: state.desired, actual: state.entry.servicePrincipalNames, managed })
    let check = await this.#checkAdditions(account, state, change.add)
    if (check.release.length > 0 && depth === 0) {
      // A site moved here from another krbfleet account: that account gives the SPNs up first, in
      // its own reconcile (its own single modify), then they are free for this one.
      for (const other of check.release) {
        logger.info(
          { from: other },
          'releasing SPNs held by another krbfleet account that no longer wants them',
        )
        // Under that account's lease too; if another replica is at work on it, this reconcile is
        // deferred as a whole (AccountBusyError) rather than reporting a false conflict.
        await this.#leased(other, (otherLease) => this.#reconcile(other, depth + 1, otherLease))
      }
      check = await this.#checkAdditions(account, state, change.add)
    }
    // At depth 1 (releasing for another account) a further release is left to this account's own
    // queued reconcile; such SPNs are neither written nor reported as conflicts now.
    const conflicts = check.conflicts

    // 3. Report conflicts not reported before, before anything is recorded (a crash re-reports them
    // with the same event id, which JetStream drops as a duplicate).
    const fresh = newConflicts(record.conflicts, conflicts)
    for (const conflict of fresh) {
      logger.warn({ spn: conflict.spn, holder: conflict.holder }, 'SPN held by another object; not written')
      await this.#events.publish(
        SpnConflictDetected.create(
          { account, spn: conflict.spn, holder: conflict.holder, revision: revision.revision },
          { actor: SERVICE_ACTOR, id: conflictEventId(account, conflict, revision.revision) },
        ),
      )
    }
    if (fresh.length > 0) this.#metrics?.conflictsDetected(fresh.length)

    const write = { add: check.writable, remove: change.remove }
    if (write.add.length === 0 && write.remove.length === 0) {
      const next: OwnershipRecord = { ...record, conflicts, revision: revision.revision }
      if (!sameRecord(next, record)) {
        lease.assertHeld()
        await this.#ownership.write(account, { ...next, updatedAt: new Date().toISOString() }, version)
      }
      return { ...unchanged(account), conflicts }
    }

    // 4. Record the intent, write AD in one modify, then confirm.
    const writeId = randomUUID()
    const intent: OwnershipRecord = {
      ...record,
      spns: managed.sorted(),
      pending: {
        id: writeId,
        add: write.add,
        remove: write.remove,
        revision: revision.revision,
        startedAt: new Date().toISOString(),
      },
      conflicts,
      revision: revision.revision,
      updatedAt: new Date().toISOString(),
    }
    lease.assertHeld()
    version = await this.#ownership.write(account, intent, version)
    this.#failpoint('after-intent')
    // Checked once more right before the modify: a lease lost meanwhile (a stall longer than its
    // TTL) means another replica may be on this account now; the intent stays for it to judge.
    lease.assertHeld()
    try {
      await this.#write(state.entry.dn, write)
    } catch (err) {
      // An LDAP modify is atomic: when the DC answered with an error, nothing was written, so the
      // intent is withdrawn. A lost connection or a timeout leaves the outcome unknown: the intent
      // stays for the next run to judge from what AD holds.
      const unknownOutcome =
        !(err instanceof KrbfleetError) ||
        err.code === ErrorCode.Unavailable ||
        err.code === ErrorCode.Timeout
      if (!unknownOutcome) {
        await this.#ownership
          .write(
            account,
            { ...record, conflicts, revision: revision.revision, updatedAt: new Date().toISOString() },
            version,
          )
          .catch((cleanup: unknown) =>
            logger.warn({ err: cleanup }, 'could not withdraw the SPN write intent'),
          )
      }
      throw err
    }
    this.#failpoint('after-modify')
    logger.info({ added: write.add, removed: write.remove, revision: revision.revision }, 'SPNs reconciled')
    await this.#publishReconciled(account, write.add, write.remove, revision.revision, writeId)
    const after = applyDiff(state.entry.servicePrincipalNames, write)
    await this.#ownership.write(
      account,
      {
        ...intent,
        spns: ownedAfter(managed.union(write.add), after),
        pending: null,
        updatedAt: new Date().toISOString(),
      },
      version,
    )
    this.#metrics?.changed(write.add.length, write.remove.length)
    return { account, outcome: 'changed', added: write.add, removed: write.remove, conflicts }
  }

  /**
   * The one modify of this account. When AD changed between our read and the write (an SPN taken by
   * another object meanwhile, a value added or removed by hand), the DC refuses the whole modify;
   * that is retried from fresh state, whose pre-check then reports the conflict properly.
   */
  async #write(dn: string, change: { add: string[]; remove: string[] }): Promise<void> {
    try {
      await this.#directory.writeSpns(dn, change)
    } catch (err) {
      const raced =
        err instanceof KrbfleetError &&
        (err.code === ErrorCode.SpnConflict ||
          err.code === ErrorCode.Conflict ||
          err.code === ErrorCode.NotFound)
      if (!raced) throw err
      throw new KrbfleetError(
        ErrorCode.Conflict,
        `${err.message}; the directory changed during the reconcile`,
        {
          cause: err,
          retryable: true,
          ...(err.details ? { details: err.details } : {}),
        },
      )
    }
  }

  async #publishReconciled(
    account: string,
    added: string[],
    removed: string[],
    revision: number,
    id: string,
  ) {
    await this.#events.publish(
      SpnsReconciled.create({ account, added, removed, revision }, { actor: SERVICE_ACTOR, id }),
    )
  }

  async #readState(account: string, revision: TopologyRevision): Promise<AccountState | null> {
    const { samAccountName } = parseAccountName(account)
    const entry = await this.#directory.findAccount(samAccountName)
    if (entry === null) return null
    const stored = await this.#ownership.read(account)
    return {
      account,
      revision,
      desired: desiredSpnsOf(revision, account),
      entry,
      stored: stored ?? { record: emptyOwnership(account), version: null },
    }
  }

  /**
   * Looks every SPN to add up across the directory (and the aliases AD maps it to). An SPN held by
   * another object is a conflict, unless the holder is a krbfleet account that owns it and no
   * longer wants it (a site moving between accounts): then that account is to release it.
   */
  async #checkAdditions(account: string, state: AccountState, add: string[]): Promise<ConflictCheck> {
    if (add.length === 0) return { writable: [], conflicts: [], release: [] }
    const holders = await this.#directory.findHolders(add)
    const ownDn = state.entry.dn.toLowerCase()
    // Holders live in the directory this service is bound to, i.e. in the account's own domain.
    const netbiosDomain = parseAccountName(account).domain
    const writable: string[] = []
    const conflicts: SpnConflictRecord[] = []
    const release = new Set<string>()
    const ownershipCache = new Map<string, SpnSet>()
    for (const spn of add) {
      const holding = (holders.get(spn) ?? []).filter((h) => h.dn.toLowerCase() !== ownDn)
      if (holding.length === 0) {
        writable.push(spn)
        continue
      }
      let releasable = true
      const releasers: string[] = []
      for (const holder of holding) {
        const other = krbfleetAccountOf(holder, netbiosDomain)
        if (other === null || other === account) {
          releasable = false
          break
        }
        let owned = ownershipCache.get(other)
        if (owned === undefined) {
          const stored = await this.#ownership.read(other)
          owned = stored ? managedSpns(stored.record) : new SpnSet()
          ownershipCache.set(other, owned)
        }
        const stillWanted = desiredSpnsOf(state.revision, other).has(holder.spn)
        if (!owned.has(holder.spn) || stillWanted) {
          releasable = false
          break
        }
        releasers.push(other)
      }
      if (releasable) for (const r of releasers) release.add(r)
      else conflicts.push({ spn, holder: holding[0]!.dn })
    }
    return { writable, conflicts, release: [...release].sort() }
  }

  /** spn.plan: the diff of one account or of all, with conflicts; writes nothing. */
  async plan(account?: string): Promise<SpnPlan> {
    const revision = await this.#topology.enabled()
    if (revision === null) return { revision: 0, accounts: [] }
    const accounts = account === undefined ? await this.accounts() : [parseAccount(account)]
    const plans: AccountSpnPlan[] = []
    for (const a of accounts) plans.push(await this.#planAccount(a, revision))
    return { revision: revision.revision, accounts: plans }
  }

  async #planAccount(account: string, revision: TopologyRevision): Promise<AccountSpnPlan> {
    const desired = desiredSpnsOf(revision, account)
    const state = await this.#readState(account, revision)
    if (state === null) {
      return {
        account,
        dn: null,
        desired: desired.sorted(),
        add: [],
        remove: [],
        keepForeign: [],
        conflicts: [],
      }
    }
    const change: SpnDiff = diff({
      desired,
      actual: state.entry.servicePrincipalNames,
      managed: managedSpns(state.stored.record),
    })
    const check = await this.#checkAdditions(account, state, change.add)
    // SPNs another krbfleet account releases are written by the reconcile, so they are in `add`.
    const conflicted = new SpnSet(check.conflicts.map((c) => c.spn))
    return {
      account,
      dn: state.entry.dn,
      desired: desired.sorted(),
      add: change.add.filter((s) => !conflicted.has(s)),
      remove: change.remove,
      keepForeign: change.keepForeign,
      conflicts: check.conflicts,
    }
  }

  /** spn.list (setspn -L): every SPN on the account, managed or foreign, and what is missing. */
  async list(account: string): Promise<SpnListing> {
    const id = parseAccount(account)
    const { samAccountName } = parseAccountName(id)
    const entry = await this.#directory.findAccount(samAccountName)
    if (entry === null) {
      throw new KrbfleetError(ErrorCode.NotFound, `account: ${id} does not exist in the directory`, {
        field: 'account',
      })
    }
    const revision = await this.#topology.enabled()
    const desired = desiredSpnsOf(revision, id)
    const stored = await this.#ownership.read(id)
    const managed = stored ? managedSpns(stored.record) : new SpnSet()
    const actual = new SpnSet(entry.servicePrincipalNames)
    return {
      account: id,
      dn: entry.dn,
      revision: revision?.revision ?? 0,
      spns: actual.sorted().map((spn) => ({ spn, managed: managed.has(spn), desired: desired.has(spn) })),
      missing: desired.minus(actual).sorted(),
    }
  }

  /** spn.query (setspn -Q): every object holding the SPN. */
  async query(spn: string): Promise<SpnQueryResult> {
    const canonical = canonicalSpn(spn, 'spn')
    // Alias holders are listed too (HOST/x answers for HTTP/x): they block the SPN just the same.
    const holders = await this.#directory.findHolders([canonical])
    return { spn: canonical, holders: sortHolders(holders.get(canonical) ?? []) }
  }

  /** spn.duplicates (setspn -X): SPNs held by more than one object, compared case-insensitively. */
  async duplicates(): Promise<SpnDuplicates> {
    const byKey = new Map<string, SpnHolderEntry[]>()
    for (const holder of await this.#directory.allHolders()) {
      const key = spnKey(holder.spn)
      const list = byKey.get(key) ?? []
      if (!list.some((h) => h.dn.toLowerCase() === holder.dn.toLowerCase())) list.push(holder)
      byKey.set(key, list)
    }
    const duplicates = [...byKey.entries()]
      .filter(([, holders]) => holders.length > 1)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, holders]) => ({ spn: holders[0]!.spn, holders: sortHolders(holders) }))
    return { duplicates }
  }

  /** spn.desired: what the enabled revision wants on the account. */
  async desired(account: string): Promise<SpnDesired> {
    const id = parseAccount(account)
    const revision = await this.#topology.enabled()
    const sites =
      revision?.topology.assignments.filter((a) => accountId(a.account) === id).map((a) => a.site) ?? []
    return {
      account: id,
      revision: revision?.revision ?? 0,
      sites: [...new Set(sites)].sort(),
      spns: desiredSpnsOf(revision, id).sorted(),
    }
  }

  /** Runs `work` after every reconcile queued before it (one at a time in this process). */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work, work)
    this.#tail = run.catch(() => {})
    return run
  }
}

/** How long an operator's "reconcile now" waits for another replica's lease on the account. */
const BUSY_WAIT_MS = 15_000

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A validated account id (`CORP\KERBAUTH`); a bad value is a rule_violation naming `account`. */
function parseAccount(account: string): string {
  return parseAccountName(account, 'account').id
}

/** The krbfleet account id of a holder when it is a computer account (sAMAccountName ends in $). */
function krbfleetAccountOf(holder: SpnHolderEntry, netbiosDomain: string): string | null {
  const sam = holder.samAccountName
  if (sam === null || !sam.endsWith('$')) return null
  try {
    return parseAccountName(`${netbiosDomain}\\${sam}`).id
  } catch {
    return null
  }
}

function unchanged(account: string): AccountOutcome {
  return { account, outcome: 'unchanged', added: [], removed: [], conflicts: [] }
}

function sameRecord(a: OwnershipRecord, b: OwnershipRecord): boolean {
  const strip = (r: OwnershipRecord) => JSON.stringify({ ...r, updatedAt: '' })
  return strip(a) === strip(b)
}

function sortHolders(holders: SpnHolderEntry[]): SpnHolder[] {
  return [...holders]
    .sort((a, b) => (a.dn.toLowerCase() < b.dn.toLowerCase() ? -1 : 1))
    .map((h) => ({ dn: h.dn, samAccountName: h.samAccountName, spn: h.spn }))
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
