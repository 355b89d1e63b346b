import { sleep } from '@krbfleet/bus'
import { ErrorCode, type EventEnvelope, KrbfleetError, PasswordRotationFailed } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { accountInDomain } from '../domain/account.ts'
import { isDefiniteRefusal } from '../domain/record.ts'
import { reasonOf } from '../failures.ts'
import {
  type AgentReport,
  countReport,
  countSilent,
  countStatuses,
  hasDoneStep,
  isAwaited,
  nextStep,
  type RotationStep,
} from './decide.ts'
import type { RotationRecord } from './model.ts'
import type { RotationSagaOptions } from './saga.ts'

const flushEveryMs = 200
/** Attempts of one record write that NATS does not answer (250 ms doubling between them). */
const saveAttempts = 5

/**
 * One rotation this process drives, from its recorded step to its end (rotation/saga.ts starts
 * and resumes them): waits for the agents' reports (counted as they arrive, decided by decide.ts
 * nextStep), commits AD, activates, finishes or aborts. The record as last written is `record`;
 * progress is written back every {@link flushEveryMs} while it changes, and touched often enough
 * that no other replica takes the rotation over. A write that loses its compare-and-set means
 * another run took it over: this one stops.
 */
export class RotationRun {
  record: RotationRecord
  #revision: number
  #dirty = false
  #lastWrite = Date.now()
  #wake: () => void = () => {}
  #woken: Promise<void> = Promise.resolve()
  readonly #o: RotationSagaOptions
  readonly #log: Logger
  readonly #now: () => Date
  readonly #stopped: () => boolean

  constructor(
    options: RotationSagaOptions,
    stored: { record: RotationRecord; revision: number; changed?: boolean },
    stopped: () => boolean,
  ) {
    this.#o = options
    this.#log = options.logger.child({ component: 'rotation', rotationId: stored.record.rotationId })
    this.#now = options.now ?? (() => new Date())
    this.record = stored.record
    this.#revision = stored.revision
    this.#dirty = stored.changed === true
    this.#stopped = stopped
    this.#arm()
  }

  /** Counts an agent's report; true when it changed the rotation's progress. */
  count(report: AgentReport): boolean {
    const counted = countReport(this.record, report)
    if (!counted) return false
    this.record = counted
    this.#dirty = true
    this.#wake()
    return true
  }

  /** Ends a wait at once (a report, a stop). */
  wake(): void {
    this.#wake()
  }

  /** A new wake-up: `wake()` resolves `#woken`. */
  #arm(): void {
    this.#woken = new Promise<void>((resolve) => {
      this.#wake = resolve
    })
  }

  async drive(resumed: boolean): Promise<void> {
    let resuming = resumed
    while (!this.#stopped()) {
      const state = this.record.state
      if (state === 'staging') {
        const step = await this.#waitFor()
        if (!step) return
        if (step.kind === 'abort') {
          await this.#abort('staging', step.reason)
          continue
        }
        this.#o.failpoint?.('rotation-staged')
        await this.#save({ ...this.record, state: 'committing' })
      } else if (state === 'committing') {
        this.#o.failpoint?.('rotation-committing')
        try {
          await this.#commit(resuming)
        } catch (err) {
          // The outcome of the AD write is unknown (a timeout, a lost connection): look at AD's
          // kvno before trying again.
          this.#log.warn({ err, rotationId: this.record.rotationId }, 'commit not finished; trying again')
          resuming = true
          await this.#flush(true)
          await sleep(1000)
        }
      } else if (state === 'activating') {
        const step = await this.#waitFor()
        if (!step) return
        await this.#finish(step.kind === 'finish' ? step.reason : undefined)
      } else return
    }
  }

  /**
   * Waits until the rotation's next step is not `wait`: a report wakes it, the deadline ends it.
   * Progress is written every {@link flushEveryMs} while it changes, and the record touched often
   * enough that no other replica takes it over. Undefined when the saga stops meanwhile.
   */
  async #waitFor(): Promise<Exclude<RotationStep, { kind: 'wait' }> | undefined> {
    let lookedAtStatuses = false
    const touchEveryMs = Math.max(500, Math.floor(this.#o.settings.staleAfterMs / 3))
    const { onlineWithinMs } = this.#o.settings
    const listenEveryMs = Math.max(1000, Math.floor(onlineWithinMs / 3))
    let listenedAt = Date.now()
    while (!this.#stopped()) {
      if (Date.now() - listenedAt >= listenEveryMs) {
        // An agent that went silent since (its site's leaf node down, the link cut) is offline now.
        listenedAt = Date.now()
        const awaited = this.record.targets.some((t) => isAwaited(this.record, t))
        const statuses = !awaited
          ? undefined
          : await this.#o.agents
              .statuses(
                this.record.targets.map((t) => t.server),
                { strict: true },
              )
              .catch((err: unknown) => {
                this.#log.warn({ err }, 'agent statuses not read; silence is looked at again later')
                return undefined
              })
        if (statuses) {
          const silent = countSilent(this.record, statuses, this.#now(), onlineWithinMs)
          if (silent) {
            const gone = silent.targets.filter((t, i) => this.record.targets[i]?.online && !t.online)
            this.#log.warn(
              { rotationId: this.record.rotationId, servers: gone.map((t) => t.server).slice(0, 100) },
              `${gone.length} agent(s) went silent; the rotation goes on without them (they catch up when they return)`,
            )
            this.record = silent
            this.#dirty = true
          }
        }
      }
      // Armed before looking, so that a report arriving from here on ends the wait below.
      this.#arm()
      const step = nextStep(this.record, this.#now())
      if (step.kind !== 'wait') {
        // Before deciding with targets that did not report (a deadline, offline or failed ones),
        // count what the agents bucket knows (reports missed); when every one reported, nothing.
        if (!lookedAtStatuses && this.record.targets.some((t) => !hasDoneStep(this.record, t))) {
          lookedAtStatuses = true
          const statuses = await this.#o.agents.statuses(this.record.targets.map((t) => t.server))
          const counted = countStatuses(this.record, statuses, this.#now(), this.#o.settings.onlineWithinMs)
          if (counted) {
            this.record = counted
            this.#dirty = true
            continue
          }
        }
        await this.#flush(false)
        return step
      }
      await this.#flush(false)
      const left = Date.parse(step.until) - this.#now().getTime()
      const nap = Math.min(left, touchEveryMs, listenEveryMs - (Date.now() - listenedAt))
      await Promise.race([this.#woken, sleep(Math.max(10, nap))])
      if (Date.now() - this.#lastWrite >= touchEveryMs) await this.#flush(true)
      else if (this.#dirty && Date.now() - this.#lastWrite >= flushEveryMs) await this.#flush(false)
    }
    return undefined
  }

  /** AD's half: unicodePwd reset, kvno read back, secret confirmed with PasswordRotated. */
  async #commit(resumed: boolean): Promise<void> {
    const { record } = this
    const account = accountInDomain(record.account, this.#o.domain)
    const caller = { actor: record.actor, correlationId: record.rotationId }
    const stored = await this.#o.accounts.get(account.id)
    const pending = stored?.record.pending
    if (pending?.operation !== 'rotate' || pending.correlationId !== record.rotationId) {
      // Confirmed already (the process died after the confirm), or never recorded.
      const secret = stored?.record.secret
      if (secret?.rotationId === record.rotationId) return await this.#activate(secret.kvno)
      return await this.#abort(
        'committing',
        'the new secret of this rotation is not recorded; AD was not changed',
      )
    }
    if (resumed) {
      // A run that died between recording `committing` and confirming: AD's kvno tells whether
      // the password was written.
      const kvno = await this.#o.directory.readKvno(stored!.record.dn)
      if (kvno !== null && pending.previousKvno !== null && kvno > pending.previousKvno) {
        await this.#o.secrets.settle(account.id, Number.POSITIVE_INFINITY, { rotation: true })
        const after = await this.#o.accounts.get(account.id)
        if (after?.record.secret?.rotationId === record.rotationId)
          return await this.#activate(after.record.secret.kvno)
        throw new KrbfleetError(ErrorCode.Unavailable, 'the rotated secret could not be confirmed yet', {
          retryable: true,
        })
      }
    }
    const write = await this.#o.secrets.resume(account, caller)
    if (!write)
      throw new KrbfleetError(ErrorCode.Conflict, 'the pending secret moved meanwhile', { retryable: true })
    let kvno: number
    try {
      kvno = await this.#o.secrets.commit(write, async (password) => {
        await this.#o.directory.setPassword(write.dn, password)
        this.#o.failpoint?.('rotation-written')
      })
    } catch (err) {
      // A DC refusal: the write did not happen and the pending secret is gone (commit withdrew it).
      if (isDefiniteRefusal(err))
        return await this.#abort('committing', `AD refused the password: ${reasonOf(err)}`)
      throw err
    }
    await this.#activate(kvno)
  }

  async #activate(kvno: number): Promise<void> {
    const now = this.#now()
    await this.#save({
      ...this.record,
      state: 'activating',
      kvno,
      applyUntil: new Date(now.getTime() + this.#o.settings.applyTimeoutMs).toISOString(),
    })
    await this.#o.outbox
      .publishOwed(this.record.account)
      .catch((err) => this.#log.warn({ err }, 'PasswordRotated not published yet; the sweep will'))
    this.#log.info(
      { rotationId: this.record.rotationId, account: this.record.account, kvno },
      'AD has the new password',
    )
    this.#o.failpoint?.('rotation-committed')
    this.#o.issue()
  }

  async #finish(reason: string | undefined): Promise<void> {
    const now = this.#now().toISOString()
    const { reason: _old, ...rest } = this.record
    await this.#save({ ...rest, state: 'done', finishedAt: now, ...(reason ? { reason } : {}) })
    await this.#o.rotations.release(this.record.account, this.record.rotationId)
    const applied = this.record.targets.filter((t) => t.applied).length
    this.#log.info(
      {
        rotationId: this.record.rotationId,
        account: this.record.account,
        applied,
        targets: this.record.targets.length,
        reason,
      },
      'rotation finished',
    )
  }

  /** Rolls back: the pending secret goes (the agents drop the staged key), AD keeps its password. */
  async #abort(step: string, reason: string): Promise<void> {
    const { record } = this
    const account = accountInDomain(record.account, this.#o.domain)
    // The record only, not its secret: nothing needs the password to drop it.
    const stored = await this.#o.accounts.get(account.id)
    const pending = stored?.record.pending
    if (stored && pending?.operation === 'rotate' && pending.correlationId === record.rotationId) {
      await this.#o.secrets.withdraw({
        account,
        record: stored.record,
        revision: stored.revision,
        keepsRecord: Boolean(stored.record.secret),
      })
    }
    await this.#save({
      ...record,
      state: 'aborted',
      finishedAt: this.#now().toISOString(),
      reason: reason.slice(0, 2048),
    })
    await this.#publish(
      PasswordRotationFailed.create(
        { rotationId: record.rotationId, account: record.account, step, reason: reason.slice(0, 1024) },
        { actor: record.actor, correlationId: record.rotationId, id: `rotation-failed-${record.rotationId}` },
      ),
    )
    await this.#o.rotations.release(record.account, record.rotationId)
    this.#log.error(
      { rotationId: record.rotationId, account: record.account, step, reason },
      'rotation aborted',
    )
    this.#o.issue()
  }

  /**
   * Writes the record now (compare-and-set); a conflict means another run took it over: stop. A
   * write NATS did not answer (a busy or failing-over hub) is tried again here, up to
   * {@link saveAttempts} times, instead of leaving the rotation to the next sweep; a conflict after
   * such a write is our own write when the stored record is the one we wrote.
   */
  async #save(record: RotationRecord): Promise<void> {
    this.record = { ...record, updatedAt: this.#now().toISOString() }
    for (let attempt = 1; ; attempt++) {
      try {
        this.#revision = await this.#o.rotations.update(this.record, this.#revision)
        break
      } catch (err) {
        const unanswered =
          err instanceof KrbfleetError &&
          (err.code === ErrorCode.Timeout || err.code === ErrorCode.Unavailable)
        if (attempt > 1 && err instanceof KrbfleetError && err.code === ErrorCode.Conflict) {
          const stored = await this.#o.rotations.get(this.record.rotationId)
          if (stored && JSON.stringify(stored.record) === JSON.stringify(this.record)) {
            this.#revision = stored.revision
            break
          }
        }
        if (!unanswered || attempt >= saveAttempts) throw err
        this.#log.warn({ err, attempt }, 'rotation record not written; trying again')
        await sleep(250 * 2 ** (attempt - 1))
      }
    }
    this.#dirty = false
    this.#lastWrite = Date.now()
  }

  async #flush(touch: boolean): Promise<void> {
    if (!this.#dirty && !touch) return
    await this.#save(this.record)
  }

  async #publish(envelope: EventEnvelope): Promise<void> {
    try {
      await this.#o.events.publish(envelope)
    } catch (err) {
      this.#log.warn({ err, type: envelope.type }, 'rotation event not published')
    }
  }
}
