import type { Bus } from '@krbfleet/bus'
import { buckets, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { listenToAgentReports } from '../adapters/nats/agent-reports.ts'
import { KvAgentStatuses } from '../adapters/nats/agent-statuses.ts'
import { KvRotationStore } from '../adapters/nats/rotation-store.ts'
import type { RotationOperations } from '../adapters/nats/rpc.ts'
import type { CredentialIssuer } from '../credentials/issuer.ts'
import type { DomainInfo } from '../domain/account.ts'
import type { AccountDirectory, AccountStore, EnabledTopologySource } from '../ports.ts'
import type { AccountService } from '../service.ts'
import { copyCredential } from './copy.ts'
import { defaultRotationSettings, type RotationFailpoint, type RotationSettings } from './model.ts'
import type { RotationObserver } from './metrics.ts'
import { RotationSaga } from './saga.ts'

export interface RotationsOptions {
  bus: Bus
  domain: DomainInfo
  directory: AccountDirectory
  accounts: AccountStore
  /** Its pending-secret saga and outbox are the rotation's too. */
  service: AccountService
  topology: EnabledTopologySource
  /** Stages and activates the credentials; without it (no signing key) there is nothing to stage. */
  issuer: CredentialIssuer | undefined
  settings?: Partial<RotationSettings>
  /** Scheduled rotation before this age (the account policy). */
  maxPasswordAgeDays: number
  scheduled: boolean
  /** The service's sweep interval: rotations are looked after at least that often. */
  sweepMs: number
  logger: Logger
  failpoint?: ((point: RotationFailpoint) => void) | undefined
  /** Metrics (metrics.ts). */
  observe?: RotationObserver
}

export interface Rotations {
  saga: RotationSaga
  /** What `password.set`, `rotation.show` and `password.copy` answer with. */
  operations: RotationOperations
  stop(): Promise<void>
}

/**
 * The rotation half of the account service (rotation/saga.ts): the saga, the agents' reports it
 * counts, and its own sweep (rotations whose process died are taken over as soon as they are stale;
 * accounts due by the schedule are rotated), looked for at start and then every
 * min(staleAfterMs, sweepMs).
 */
export async function startRotations(options: RotationsOptions): Promise<Rotations> {
  const { bus, logger, issuer } = options
  const settings = { ...defaultRotationSettings, ...options.settings }
  const saga = new RotationSaga({
    domain: options.domain,
    directory: options.directory,
    accounts: options.accounts,
    secrets: options.service.pendingSecrets,
    outbox: options.service.outbox,
    rotations: new KvRotationStore(await bus.kv(buckets.rotations)),
    topology: options.topology,
    agents: new KvAgentStatuses(await bus.kv(buckets.agents), logger),
    events: bus,
    issue: () => void issuer?.reconcile().catch((err) => logger.warn({ err }, 'credential run failed')),
    settings,
    logger,
    ...(options.failpoint ? { failpoint: options.failpoint } : {}),
    ...(options.observe ? { observe: options.observe } : {}),
  })
  const reports = listenToAgentReports(bus, logger, (report) => {
    if (saga.report(report)) options.observe?.report(report.kind)
  })
  let sweeping = false
  const sweep = async () => {
    if (sweeping) return
    sweeping = true
    try {
      const resumed = await saga.resumeStale()
      if (resumed > 0) logger.warn({ resumed }, 'resumed interrupted rotations')
      if (options.scheduled) await saga.rotateDue(await options.accounts.list(), options.maxPasswordAgeDays)
    } catch (err) {
      logger.warn({ err }, 'could not look for interrupted or due rotations; will try again')
    } finally {
      sweeping = false
    }
  }
  void sweep()
  const timer = setInterval(() => void sweep(), Math.min(settings.staleAfterMs, options.sweepMs))
  timer.unref()
  const copyOptions = {
    topology: options.topology,
    accounts: options.accounts,
    reissue: async (server: string) => {
      if (!issuer) {
        throw new KrbfleetError(
          ErrorCode.Unavailable,
          'to: the account service issues no credentials (no KRBFLEET_ACCOUNT_SIGNER_KEY_FILE)',
          { field: 'to' },
        )
      }
      await issuer.reissue(server)
    },
    logger,
  }
  return {
    saga,
    operations: {
      start: (body, ctx) => saga.start(body, ctx),
      show: (body) => saga.show(body),
      copy: (body, ctx) => copyCredential(copyOptions, body, ctx),
    },
    async stop() {
      clearInterval(timer)
      reports.stop()
      await saga.stop()
    },
  }
}
