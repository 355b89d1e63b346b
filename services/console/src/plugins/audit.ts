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
}

/**
 * The reason of a refusal as the audit trail records it. The text of an internal error (a DN, a
 * path, a fragment of a secret) goes to the log only, as in the HTTP answer.
 */
export function refusalDetail(error: KrbfleetError): string {
  return `${error.code}: ${error.code === ErrorCode.Internal ? 'internal error' : error.message}`
}

/** Every change as a ChangeRecorded event with its actor (`token:<name>`) and outcome. */
export class AuditTrail {
  readonly #publish: AuditTrailOptions['publish']
  readonly #logger: Logger
  readonly #changes: Counter<'action' | 'outcome'>

  constructor(options: AuditTrailOptions) {
    this.#publish = options.publish
    this.#logger = options.logger.child({ component: 'console' })
    this.#changes = new Counter({
      name: 'krbfleet_console_changes_total',
      help: 'Changes recorded in the audit trail, by action and outcome',
      labelNames: ['action', 'outcome'],
      registers: [options.registry],
    })
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
    this.#changes.inc({ action: audit.action, outcome })
    const actor = req.principal?.actor ?? 'anonymous'
    const event = ChangeRecorded.create(
      {
        action: audit.action,
        target: audit.target.slice(0, 512),
        outcome,
        ...(detail ? { detail: detail.slice(0, 1024) } : {}),
      },
      { actor, correlationId: req.id },
    )
    try {
      await this.#publish(event)
    } catch (err) {
      // The change itself stands; a lost audit record is loud in the log and the metrics.
      this.#logger.error(
        { err, action: audit.action, target: audit.target, outcome, actor },
        'audit record not published',
      )
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
    const target = req.url.split('?')[0] ?? req.url
    await trail.record(req, { action, target }, 'refused', refusalDetail(refusalOf(err).error))
  })
})
