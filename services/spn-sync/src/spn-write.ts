import { randomUUID } from 'node:crypto'
import { ErrorCode, KrbfleetError, SpnsReconciled, type TopologyRevision } from '@krbfleet/contracts'
import type { Logger } from '@krbfleet/logging'
import type { AccountState } from './account-state.ts'
import {
  applyDiff,
  type OwnershipRecord,
  outcomeOfPending,
  ownedAfter,
  ownedAfterPending,
  type SpnConflictRecord,
  type SpnSet,
} from './domain/index.ts'
import type { EventSink, Failpoint, HeldLease, OwnershipStore, SpnDirectory } from './ports.ts'

/** The actor of every event spn-sync publishes. */
export const SERVICE_ACTOR = 'service:spn-sync'

/** One reconcile of one account under its lease, and the state it read. */
export interface AccountRun {
  account: string
  /** 0 for the account asked for, 1 for an account reconciled so that it releases SPNs. */
  depth: number
  lease: HeldLease
  logger: Logger
  revision: TopologyRevision
  state: AccountState
}

/** The ownership record as a run has it now, and its KV version for the next compare-and-set. */
export interface StoredRecord {
  record: OwnershipRecord
  version: number | null
}

export interface SpnChange {
  add: string[]
  remove: string[]
}

export interface SpnWriterOptions {
  ownership: OwnershipStore
  directory: SpnDirectory
  events: EventSink
  failpoint: (point: Failpoint) => void
  /** Counts the SPNs written. */
  changed: (added: number, removed: number) => void
}

/**
 * The crash-safe write of an account's SPNs (domain/ownership.ts): the intent is recorded before
 * the one LDAP modify and confirmed after it, and a run that finds an intent left behind completes
 * it before anything else. Every record write is a compare-and-set under the account's lease.
 */
export class SpnWriter {
  readonly #ownership: OwnershipStore
  readonly #directory: SpnDirectory
  readonly #events: EventSink
  readonly #failpoint: (point: Failpoint) => void
  readonly #changed: (added: number, removed: number) => void

  constructor(options: SpnWriterOptions) {
    this.#ownership = options.ownership
    this.#directory = options.directory
    this.#events = options.events
    this.#failpoint = options.failpoint
    this.#changed = options.changed
  }

  /**
   * Takes over a pending write. We hold the account's lease, so its writer is not at work: it
   * died (its lease expired), or an earlier run here ended with the modify's outcome unknown.
   * A modify of such a run may still land late; ownedAfterPending keeps its desired additions
   * owned either way.
   */
  async completePending(run: AccountRun, stored: StoredRecord): Promise<StoredRecord> {
    const { record } = stored
    if (record.pending === null) return stored
    const actual = run.state.entry.servicePrincipalNames
    const done = outcomeOfPending(record.pending, actual)
    run.logger.warn({ pending: record.pending, done }, 'completing an interrupted SPN write')
    if (done.added.length > 0 || done.removed.length > 0) {
      const { revision, id } = record.pending
      await this.#publishReconciled(run.account, { add: done.added, remove: done.removed }, revision, id)
    }
    const completed: OwnershipRecord = {
      ...record,
      spns: ownedAfterPending(record, actual, run.state.desired),
      pending: null,
      updatedAt: new Date().toISOString(),
    }
    run.lease.assertHeld()
    return { record: completed, version: await this.#ownership.write(run.account, completed, stored.version) }
  }

  /** Records the intent, writes AD in one modify, reports the change, then confirms it. */
  async apply(
    run: AccountRun,
    stored: StoredRecord,
    managed: SpnSet,
    write: SpnChange,
    conflicts: SpnConflictRecord[],
  ): Promise<void> {
    const { account, lease } = run
    const revision = run.revision.revision
    const writeId = randomUUID()
    const now = new Date().toISOString()
    const intent: OwnershipRecord = {
      ...stored.record,
      spns: managed.sorted(),
      pending: { id: writeId, add: write.add, remove: write.remove, revision, startedAt: now },
      conflicts,
      revision,
      updatedAt: now,
    }
    lease.assertHeld()
    const version = await this.#ownership.write(account, intent, stored.version)
    this.#failpoint('after-intent')
    // Checked once more right before the modify: a lease lost meanwhile (a stall longer than its
    // TTL) means another replica may be on this account now; the intent stays for it to judge.
    lease.assertHeld()
    await this.#modify(run, { record: stored.record, version }, write, conflicts)
    this.#failpoint('after-modify')
    run.logger.info({ added: write.add, removed: write.remove, revision }, 'SPNs reconciled')
    await this.#publishReconciled(account, write, revision, writeId)
    const after = applyDiff(run.state.entry.servicePrincipalNames, write)
    const confirmed: OwnershipRecord = {
      ...intent,
      spns: ownedAfter(managed.union(write.add), after),
      pending: null,
      updatedAt: new Date().toISOString(),
    }
    await this.#ownership.write(account, confirmed, version)
    this.#changed(write.add.length, write.remove.length)
  }

  /**
   * The one modify of this account. An LDAP modify is atomic: when the DC answered with an error,
   * nothing was written, so the intent (at `intent.version`) is withdrawn back to `intent.record`.
   * A lost connection or a timeout leaves the outcome unknown: the intent stays for the next run to
   * judge from what AD holds.
   */
  async #modify(
    run: AccountRun,
    intent: { record: OwnershipRecord; version: number },
    write: SpnChange,
    conflicts: SpnConflictRecord[],
  ): Promise<void> {
    try {
      await this.#directory.writeSpns(run.state.entry.dn, write)
    } catch (err) {
      if (!outcomeUnknown(err)) {
        const withdrawn: OwnershipRecord = {
          ...intent.record,
          conflicts,
          revision: run.revision.revision,
          updatedAt: new Date().toISOString(),
        }
        await this.#ownership
          .write(run.account, withdrawn, intent.version)
          .catch((cleanup: unknown) =>
            run.logger.warn({ err: cleanup }, 'could not withdraw the SPN write intent'),
          )
      }
      throw directoryChangedMeanwhile(err)
    }
  }

  async #publishReconciled(account: string, change: SpnChange, revision: number, id: string) {
    await this.#events.publish(
      SpnsReconciled.create(
        { account, added: change.add, removed: change.remove, revision },
        { actor: SERVICE_ACTOR, id },
      ),
    )
  }
}

/** Whether a failed modify may still have been applied (no answer from the DC). */
function outcomeUnknown(err: unknown): boolean {
  return (
    !(err instanceof KrbfleetError) || err.code === ErrorCode.Unavailable || err.code === ErrorCode.Timeout
  )
}

/**
 * When AD changed between our read and the write (an SPN taken by another object meanwhile, a
 * value added or removed by hand), the DC refuses the whole modify; that is retried from fresh
 * state, whose pre-check then reports the conflict properly.
 */
function directoryChangedMeanwhile(err: unknown): unknown {
  const raced =
    err instanceof KrbfleetError &&
    (err.code === ErrorCode.SpnConflict || err.code === ErrorCode.Conflict || err.code === ErrorCode.NotFound)
  if (!raced) return err
  return new KrbfleetError(ErrorCode.Conflict, `${err.message}; the directory changed during the reconcile`, {
    cause: err,
    retryable: true,
    ...(err.details ? { details: err.details } : {}),
  })
}
