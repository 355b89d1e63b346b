import { randomBytes } from 'node:crypto'
import {
  type AccountName,
  ErrorCode,
  KrbfleetError,
  type PasswordSetRequest,
  PasswordRotationStarted,
  type RotationShowRequest,
  type RotationView,
} from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { accountInDomain, type DomainInfo } from '../domain/account.ts'
import type { CallContext } from '../domain/events.ts'
import type { AccountRecord } from '../domain/record.ts'
import { reasonOf } from '../failures.ts'
import type {
  AccountDirectory,
  AccountStore,
  AgentStatusSource,
  EnabledTopologySource,
  EventSink,
  RotationStore,
} from '../ports.ts'
import type { AccountOutbox } from '../saga/outbox.ts'
import type { PendingSecrets } from '../saga/pending-secret.ts'
import { type AgentReport, caughtUp, countStatuses, planTargets, startedTargets } from './decide.ts'
import type { RotationObserver } from './metrics.ts'
import { RotationRun } from './run.ts'
import { dueForRotation } from './schedule.ts'
import {
  isFinished,
  type RotationFailpoint,
  type RotationRecord,
  type RotationSettings,
  viewOf,
} from './model.ts'

export interface RotationSagaOptions {
  domain: DomainInfo
  directory: AccountDirectory
  accounts: AccountStore
  secrets: PendingSecrets
  outbox: AccountOutbox
  rotations: RotationStore
  topology: EnabledTopologySource
  agents: AgentStatusSource
  events: EventSink
  /** Asks the credential issuer for a run now (it also runs on every change of the accounts bucket). */
  issue: () => void
  settings: RotationSettings
  logger: Logger
  now?: () => Date
  /** Crash tests stop the process dead here (services/account/test/crashing-main.ts). */
  failpoint?: (point: RotationFailpoint) => void
  /** Metrics: a rotation driven here started or ended (metrics.ts). */
  observe?: Pick<RotationObserver, 'started' | 'stopped' | 'finished'>
}

/**
 * Set-CsKerberosAccountPassword as a two-phase, crash-safe saga (ARCHITECTURE.md, "The rotation
 * protocol"): plan the targets from the enabled revision; record the rotation and the new secret
 * sealed as pending (`rotate`) BEFORE AD is written; the credential issuer then stages it to every
 * target, which holds it beside the active key and reports CredentialStaged; once every online agent
 * staged (or the stage timeout passed) the saga records `committing`, resets unicodePwd over
 * LDAPS/StartTLS, reads msDS-KeyVersionNumber back, confirms the secret (PasswordRotated) and waits
 * for the agents to switch (CredentialApplied); the replaced kvno is retired after the maximum
 * ticket lifetime (domain/record.ts `retiring`). A DC refusal aborts: the pending secret goes and
 * the agents drop the staged key. Every step is in the rotations bucket: a saga whose process died
 * is taken over by the next sweep of any replica and resumes from its step.
 */
export class RotationSaga {
  readonly #o: RotationSagaOptions
  readonly #log: Logger
  readonly #now: () => Date
  readonly #runs = new Map<string, RotationRun>()
  readonly #drivers = new Set<Promise<void>>()
  #stopped = false

  constructor(options: RotationSagaOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'rotation' })
    this.#now = options.now ?? (() => new Date())
  }

  /** Starts a rotation of `request.account` and answers at once (dry run: the targets only). */
  async start(request: PasswordSetRequest, ctx: CallContext): Promise<RotationView> {
    const { accounts, rotations, directory } = this.#o
    const account = accountInDomain(request.account, this.#o.domain)
    const stored = await accounts.get(account.id)
    if (!stored?.record.secret || stored.record.removing) {
      throw new KrbfleetError(
        ErrorCode.NotFound,
        `account: ${account.id} is not managed by krbfleet (\`krbfleet account new ${account.id}\`, or --adopt an existing one)`,
        { field: 'account' },
      )
    }
    const running = await this.#runningOf(account.id)
    if (running) throw await this.#alreadyRunning(account, running)
    if (stored.record.pending) {
      throw new KrbfleetError(
        ErrorCode.Conflict,
        `account: an earlier password write for ${account.id} (started ${stored.record.pending.startedAt}) is not settled yet; try again shortly`,
        { field: 'account', retryable: true },
      )
    }
    const ad = await directory.findAccount(account.samAccountName)
    if (!ad || ad.kvno === null) {
      throw new KrbfleetError(
        ErrorCode.NotFound,
        `account: ${account.id} is not in AD (or its kvno is not readable)`,
        {
          field: 'account',
        },
      )
    }
    const now = this.#now()
    const topology = await this.#o.topology.enabledTopology()
    const servers = planTargets(topology, account.id, new Map(), now, 0).map((t) => t.server)
    const statuses = await this.#o.agents.statuses(servers)
    const rotationId = `rot-${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${randomBytes(4).toString('hex')}`
    const record: RotationRecord = {
      rotationId,
      account: account.id,
      state: 'staging',
      dryRun: request.dryRun === true,
      actor: ctx.actor,
      startedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      finishedAt: null,
      previousKvno: ad.kvno,
      kvno: ad.kvno + 1,
      targets: planTargets(topology, account.id, statuses, now, this.#o.settings.onlineWithinMs),
      stageUntil: new Date(now.getTime() + this.#o.settings.stageTimeoutMs).toISOString(),
      applyUntil: null,
    }
    if (record.dryRun) return viewOf(record)

    let holder = await rotations.claim(account.id, rotationId)
    if (holder !== null && (await this.#runningOf(account.id)) === null)
      holder = await rotations.claim(account.id, rotationId)
    if (holder !== null) throw await this.#alreadyRunning(account, holder)
    const caller = { actor: ctx.actor, correlationId: rotationId }
    let revision: number
    try {
      revision = await rotations.create(record)
      // The new secret, sealed at rest as pending, BEFORE anything reaches AD.
      const { dn, dnsHostName, encryptionTypes, adopted } = stored.record
      await this.#o.secrets.begin(
        {
          account,
          record: { dn, dnsHostName, encryptionTypes, adopted },
          operation: 'rotate',
          previousKvno: ad.kvno,
          life: 'continue',
        },
        caller,
      )
    } catch (err) {
      await this.#finishRecord(rotationId, 'aborted', `not started: ${reasonOf(err)}`).catch(() => {})
      await rotations.release(account.id, rotationId).catch(() => {})
      throw err
    }
    await this.#publish(
      PasswordRotationStarted.create(
        { rotationId, account: account.id, ...startedTargets(record) },
        { ...caller, id: `rotation-started-${rotationId}`, occurredAt: record.startedAt },
      ),
    )
    this.#log.info(
      {
        rotationId,
        account: account.id,
        targets: record.targets.length,
        kvno: record.kvno,
        actor: ctx.actor,
      },
      'rotation started',
    )
    this.#o.failpoint?.('rotation-started')
    this.#o.issue()
    this.#launch({ record, revision }, false)
    return viewOf(record)
  }

  /** A rotation's progress: by id, or the running (else the latest) one of an account. */
  async show(request: RotationShowRequest): Promise<RotationView> {
    let rotationId = request.rotationId
    if (!rotationId && request.account) {
      const account = accountInDomain(request.account, this.#o.domain)
      rotationId =
        (await this.#o.rotations.running(account.id)) ??
        (await this.#o.rotations.list())
          .map((r) => r.record)
          .filter((r) => r.account === account.id)
          .sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0]?.rotationId
      if (!rotationId) {
        throw new KrbfleetError(ErrorCode.NotFound, `account: no rotation of ${account.id} is recorded`, {
          field: 'account',
        })
      }
    }
    if (!rotationId) {
      throw new KrbfleetError(ErrorCode.Invalid, 'rotationId or account is required', { field: 'rotationId' })
    }
    const local = this.#runs.get(rotationId)
    if (local) return viewOf(local.record)
    const stored = await this.#o.rotations.get(rotationId)
    if (!stored) {
      throw new KrbfleetError(ErrorCode.NotFound, `rotationId: no rotation ${rotationId}`, {
        field: 'rotationId',
      })
    }
    return viewOf(await this.#asAgentsStand(stored.record))
  }

  /**
   * A done rotation that left sites pending, with the targets whose agents have caught up since
   * counted applied (the agents bucket; decide.ts caughtUp). As recorded when the bucket cannot be read.
   */
  async #asAgentsStand(record: RotationRecord): Promise<RotationRecord> {
    const servers = record.targets.filter((t) => !t.online && !t.applied).map((t) => t.server)
    if (record.state !== 'done' || servers.length === 0) return record
    const statuses = await this.#o.agents.statuses(servers).catch((err: unknown) => {
      this.#log.warn(
        { err, rotationId: record.rotationId },
        'agent statuses not read; pending sites as recorded',
      )
      return null
    })
    return (statuses && caughtUp(record, statuses)) ?? record
  }

  /** An agent's report, counted by the rotation of its account that this process drives; true when one counted it. */
  report(report: AgentReport): boolean {
    let counted = false
    for (const run of this.#runs.values()) counted = run.count(report) || counted
    return counted
  }

  /**
   * The sweep's half: takes over every unfinished rotation no run has updated for
   * `staleAfterMs` (its process died) and resumes it from its step. Returns how many it took.
   */
  async resumeStale(): Promise<number> {
    if (this.#stopped) return 0
    const now = this.#now()
    let taken = 0
    for (const { record, revision } of await this.#o.rotations.list()) {
      if (isFinished(record) || this.#runs.has(record.rotationId)) continue
      if (now.getTime() - Date.parse(record.updatedAt) < this.#o.settings.staleAfterMs) continue
      // The agents had no saga to answer while it was down: the step's wait starts again.
      let next = { ...record, updatedAt: now.toISOString(), ...this.#freshDeadline(record, now) }
      let nextRevision: number
      try {
        nextRevision = await this.#o.rotations.update(next, revision)
      } catch {
        continue // another replica took it first
      }
      const statuses = await this.#o.agents.statuses(record.targets.map((t) => t.server))
      next = countStatuses(next, statuses, now, this.#o.settings.onlineWithinMs) ?? next
      this.#log.warn(
        { rotationId: record.rotationId, state: record.state },
        'resuming an interrupted rotation',
      )
      this.#launch({ record: next, revision: nextRevision, changed: true }, true)
      taken++
    }
    return taken
  }

  /**
   * Scheduled rotation: starts the rotation of every account whose password reaches the maximum
   * age (rotation/schedule.ts), one at a time, as `service:account`. Returns how many it started.
   */
  async rotateDue(records: readonly AccountRecord[], maxAgeDays: number): Promise<number> {
    let started = 0
    for (const account of dueForRotation(records, this.#now(), maxAgeDays)) {
      if (this.#stopped) break
      if (await this.#runningOf(account)) continue
      try {
        await this.start({ account }, { actor: 'service:account' })
        started++
        this.#log.info({ account, maxAgeDays }, 'scheduled rotation: the password reached its maximum age')
      } catch (err) {
        this.#log.warn({ err, account }, 'scheduled rotation not started; the next sweep tries again')
      }
    }
    return started
  }

  /** Stops driving (the records stay; the next process resumes them). */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const run of this.#runs.values()) run.wake()
    await Promise.allSettled([...this.#drivers])
  }

  /** The deadline of the step a resumed rotation is in, restarted from `now`. */
  #freshDeadline(record: RotationRecord, now: Date): Partial<RotationRecord> {
    const { stageTimeoutMs, applyTimeoutMs } = this.#o.settings
    if (record.state === 'staging')
      return { stageUntil: new Date(now.getTime() + stageTimeoutMs).toISOString() }
    if (record.state === 'activating')
      return { applyUntil: new Date(now.getTime() + applyTimeoutMs).toISOString() }
    return {}
  }

  #launch(stored: { record: RotationRecord; revision: number; changed?: boolean }, resumed: boolean): void {
    const run = new RotationRun(this.#o, stored, () => this.#stopped)
    this.#runs.set(run.record.rotationId, run)
    this.#o.observe?.started()
    const driver = run
      .drive(resumed)
      .then(() => {
        if (isFinished(run.record)) this.#o.observe?.finished(run.record)
      })
      .catch((err) =>
        this.#log.error(
          { err, rotationId: run.record.rotationId },
          'rotation interrupted; the next sweep resumes it',
        ),
      )
      .finally(() => {
        this.#runs.delete(run.record.rotationId)
        this.#drivers.delete(driver)
        this.#o.observe?.stopped()
      })
    this.#drivers.add(driver)
  }

  async #finishRecord(rotationId: string, state: 'aborted', reason: string): Promise<void> {
    const stored = await this.#o.rotations.get(rotationId)
    if (!stored) return
    const now = this.#now().toISOString()
    await this.#o.rotations.update(
      { ...stored.record, state, reason, finishedAt: now, updatedAt: now },
      stored.revision,
    )
  }

  /**
   * The rotation that holds the account's claim. A claim whose rotation is finished (its run died
   * between recording the end and releasing the claim: a write NATS did not answer) is released
   * here, so that it never blocks the account's next rotation.
   */
  async #runningOf(account: string): Promise<string | null> {
    const rotationId = await this.#o.rotations.running(account)
    if (rotationId === null) return null
    const stored = await this.#o.rotations.get(rotationId)
    if (!stored || !isFinished(stored.record)) return rotationId
    this.#log.warn({ rotationId, account }, 'the claim of a finished rotation was left behind; released')
    await this.#o.rotations.release(account, rotationId)
    return null
  }

  async #alreadyRunning(account: AccountName, rotationId: string): Promise<KrbfleetError> {
    const stored = await this.#o.rotations.get(rotationId).catch(() => null)
    const detail = stored
      ? ` (started ${stored.record.startedAt} by ${stored.record.actor}, ${stored.record.state})`
      : ''
    return new KrbfleetError(
      ErrorCode.Conflict,
      `account: rotation ${rotationId} of ${account.id} is running${detail}; one rotation of an account at a time: \`krbfleet rotation show ${rotationId}\``,
      { field: 'account', retryable: true, details: { rotationId } },
    )
  }

  async #publish(envelope: Parameters<EventSink['publish']>[0]): Promise<void> {
    try {
      await this.#o.events.publish(envelope)
    } catch (err) {
      this.#log.warn({ err, type: envelope.type }, 'rotation event not published')
    }
  }
}
