import { type KV, ReconcileQueue } from '@krbfleet/bus'
import { KvWatchInclude } from '@nats-io/kv'
import type { Logger } from 'pino'
import type { CredentialIssuer } from './issuer.ts'

export interface CredentialIssuingOptions {
  issuer: Pick<CredentialIssuer, 'reconcile'>
  /**
   * The buckets whose changes ask for a new credential plan: the topology (an enable, an
   * enrolment) and the accounts (a password written).
   */
  watch: KV[]
  /** The periodic run that catches whatever a watch missed (the service's sweep interval). */
  resyncIntervalMs: number
  logger: Logger
}

export interface CredentialIssuing {
  /** Resolves when no run is queued or in progress (tests, graceful hand-offs). */
  whenIdle(): Promise<void>
  stop(): Promise<void>
}

const all = 'all servers'

/**
 * When the issuer runs: at once whenever the topology or an account changes (KV watches, updates
 * only), and every `resyncIntervalMs`. One level-triggered key (libs/bus ReconcileQueue): changes
 * that arrive during a run collapse into one more run; a failed run retries with backoff.
 */
export async function startCredentialIssuing(options: CredentialIssuingOptions): Promise<CredentialIssuing> {
  const logger = options.logger.child({ component: 'credential-issuing' })
  const queue = new ReconcileQueue({
    name: 'credentials',
    reconcile: async () => {
      const { issued, revoked } = await options.issuer.reconcile()
      if (issued + revoked > 0) logger.info({ issued, revoked }, 'credentials issued and revoked')
    },
    listKeys: () => [all],
    resyncIntervalMs: options.resyncIntervalMs,
    logger,
  })
  const watches = await Promise.all(
    options.watch.map((kv) => kv.watch({ include: KvWatchInclude.UpdatesOnly })),
  )
  for (const watch of watches) {
    void (async () => {
      for await (const _ of watch) queue.enqueue(all)
    })().catch((err) => logger.warn({ err }, 'a bucket watch ended; the periodic run still issues'))
  }
  queue.start()
  return {
    whenIdle: () => queue.whenIdle(),
    async stop() {
      for (const watch of watches) watch.stop()
      await queue.stop()
    },
  }
}
