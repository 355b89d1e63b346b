import {
  asKrbfleetError,
  ChangeRecorded,
  ErrorCode,
  type EventEnvelope,
  type KrbfleetError,
} from '@krbfleet/contracts'
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { Counter, type Registry } from 'prom-client'
import type { ChangeAudit } from '../context.ts'
import {
  type Admission,
  RefusalBudget,
  type RefusalWindow,
  SuppressionReason,
  summaryDetail,
  suppressedIn,
} from '../domain/refusal-budget.ts'
import { appWide } from './app-wide.ts'
import { refusalOf } from './errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's change is recorded: a refusal after that is not recorded twice. */
    audited?: boolean
  }
}

export type AuditOutcome = 'applied' | 'refused' | 'dry-run'

export interface AuditTrailOptions {
  /** Publishes the ChangeRecorded events (libs/bus publish in production). */
  publish: (envelope: EventEnvelope) => Promise<unknown>
  logger: Logger
  /** Where the changes counter goes. */
  registry: Registry
  /** Refusals recorded individually per token and window (default 10 a minute); see RefusalBudget. */
  refusals?: { perWindow: number; windowMs: number }
}

/** The action of the record that sums up a window's refusals that were not recorded one by one. */
export const refusalsSummaryAction = 'audit.refusals-summary'

/**
 * The reason of a refusal as the audit trail records it. The text of an internal error (a DN, a
 * path, a fragment of a secret) goes to the log only, as in the HTTP answer.
 */
export function refusalDetail(error: KrbfleetError): string {
  return `${error.code}: ${error.code === ErrorCode.Internal ? 'internal error' : error.message}`
}

/**
 * Every change as a ChangeRecorded event with its actor (`token:<name>`) and outcome. Applied and
 * dry-run changes are always recorded; refusals within the per-token budget (RefusalBudget), the
 * rest counted in krbfleet_console_audit_suppressed_total and summed up by one record per window.
 */
export class AuditTrail {
  readonly #publish: AuditTrailOptions['publish']
  readonly #logger: Logger
  readonly #changes: Counter<'action' | 'outcome'>
  readonly #suppressed: Counter<'reason'>
  readonly #budget: RefusalBudget
  readonly #timers = new Set<NodeJS.Timeout>()

  constructor(options: AuditTrailOptions) {
    this.#publish = options.publish
    this.#logger = options.logger.child({ component: 'console' })
    this.#changes = new Counter({
      name: 'krbfleet_console_changes_total',
      help: 'Changes recorded in the audit trail, by action and outcome',
      labelNames: ['action', 'outcome'],
      registers: [options.registry],
    })
    this.#suppressed = new Counter({
      name: 'krbfleet_console_audit_suppressed_total',
      help: 'Refused changes not recorded individually (summed up per token and window), by reason',
      labelNames: ['reason'],
      registers: [options.registry],
    })
    for (const reason of Object.values(SuppressionReason)) this.#suppressed.inc({ reason }, 0)
    this.#budget = new RefusalBudget(options.refusals ?? { perWindow: 10, windowMs: 60_000 })
  }

  /** Runs a change and records it (applied, dry-run, or refused with the reason); rethrows its error. */
  async change<T>(req: FastifyRequest, audit: ChangeAudit, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run()
      await this.record(req, audit, audit.dryRun ? 'dry-run' : 'applied')
      return result
    } catch (err) {
      await this.record(req, audit, 'refused', refusalDetail(asKrbfleetError(err)))
      throw err
    }
  }

  async record(
    req: FastifyRequest,
    audit: ChangeAudit,
    outcome: AuditOutcome,
    detail?: string,
  ): Promise<void> {
    req.audited = true
    const actor = req.principal?.actor ?? 'anonymous'
    if (outcome === 'refused') {
      const admission = this.#budget.admit(actor, audit.action, Date.now())
      this.#follow(admission)
      if (!admission.audit) {
        this.#suppressed.inc({ reason: SuppressionReason.Budget })
        return
      }
    }
    this.#changes.inc({ action: audit.action, outcome })
    await this.#send(
      ChangeRecorded.create(
        {
          action: audit.action,
          target: audit.target.slice(0, 512),
          outcome,
          ...(detail ? { detail: detail.slice(0, 1024) } : {}),
        },
        { actor, correlationId: req.id },
      ),
    )
  }

  /** A refused change that is counted, never recorded one by one (a 429 of the rate limit). */
  suppress(req: FastifyRequest, action: string, reason: SuppressionReason): void {
    req.audited = true
    this.#follow(this.#budget.suppress(req.principal?.actor ?? 'anonymous', action, reason, Date.now()))
    this.#suppressed.inc({ reason })
  }

  /** Sums up the open windows now (at shutdown, while the bus is still connected). */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    const now = Date.now()
    const open = this.#budget.close(Number.POSITIVE_INFINITY)
    await Promise.all(open.map((w) => this.#summarise({ ...w, endsAt: Math.min(w.endsAt, now) })))
  }

  /** Closes a window when it ends, and sums up one that ended unclosed. */
  #follow(changes: Omit<Admission, 'audit'>): void {
    if (changes.ended) void this.#summarise(changes.ended)
    const opened = changes.opened
    if (!opened) return
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      // A timer may fire a little before the wall clock reaches endsAt (timers run on the monotonic
      // clock): closing at `now` would then close nothing and the summary would never come.
      for (const window of this.#budget.close(Math.max(Date.now(), opened.endsAt)))
        void this.#summarise(window)
    }, opened.endsAt - Date.now())
    // A pending summary does not keep the process alive: stop() publishes it.
    timer.unref()
    this.#timers.add(timer)
  }

  async #summarise(window: RefusalWindow): Promise<void> {
    if (suppressedIn(window) === 0) return
    const data = {
      action: refusalsSummaryAction,
      target: window.actor,
      outcome: 'refused' as const,
      detail: summaryDetail(window, this.#budget.perWindow),
    }
    await this.#send(ChangeRecorded.create(data, { actor: window.actor }))
  }

  async #send(event: EventEnvelope): Promise<void> {
    try {
      await this.#publish(event)
    } catch (err) {
      // The change itself stands; a lost audit record is loud in the log and the metrics.
      const { action, target, outcome } = event.data as { action: string; target: string; outcome: string }
      this.#logger.error({ err, action, target, outcome, actor: event.actor }, 'audit record not published')
    }
  }
}

export interface AuditOptions {
  trail: AuditTrail
}

/**
 * Records the refusals that happen before or around a change route's handler (a body refused by
 * validation, a role too low, ...) for an authenticated caller: every route with `config.action`
 * is audited, also when its handler never ran. The refusal is recorded before it is answered.
 */
export const audit = appWide<AuditOptions>('krbfleet-audit', async (app, { trail }) => {
  app.addHook('onError', async (req, _reply, err) => {
    const action = req.routeOptions.config?.action
    if (!action || !req.principal || req.audited) return
    const { error } = refusalOf(err)
    if (error.code === ErrorCode.RateLimited) {
      trail.suppress(req, action, SuppressionReason.RateLimited)
      return
    }
    const target = req.url.split('?')[0] ?? req.url
    await trail.record(req, { action, target }, 'refused', refusalDetail(error))
  })
  app.addHook('onClose', async () => {
    await trail.stop()
  })
})
