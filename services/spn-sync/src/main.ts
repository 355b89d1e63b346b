import { connectBusFromSettings, consumerLag } from '@krbfleet/bus'
import { connectDirectoryFromSettings } from '@krbfleet/directory'
import type { Logger } from '@krbfleet/logging'
import {
  consumerLagMetric,
  createMetricsRegistry,
  ldapOperationMetric,
  runService,
  startHealthServer,
} from '@krbfleet/runtime'
import { durables } from './adapters/nats/triggers.ts'
import { SpnSyncConfig } from './config.ts'
import { createSpnMetrics } from './metrics.ts'
import type { Failpoint } from './ports.ts'
import { startSpnSync } from './start.ts'

/**
 * What a test's own entry point may add to the real process (services/spn-sync/test/crashing-main.ts).
 * Not a setting: `node main.ts` passes none, so no production configuration can turn one on.
 */
export interface SpnSyncTestSeams {
  /** Called at the named point of a write with the process logger (a crash test SIGKILLs there). */
  failpoint?: (point: Failpoint, logger: Logger) => void
}

/**
 * The process edge of spn-sync: configuration, connections, health server, ordered shutdown
 * (runService owns the signals). A bad setting or an unreachable DC stops start-up naming the cause.
 */
export async function runSpnSync(seams: SpnSyncTestSeams = {}): Promise<void> {
  const { failpoint } = seams
  await runService({
    name: 'spn-sync',
    config: SpnSyncConfig,
    async start({ config, logger }) {
      const registry = createMetricsRegistry({ service: 'spn-sync' })
      const directory = await connectDirectoryFromSettings(config.ldap, {
        logger,
        observe: ldapOperationMetric(registry),
      })
      const bus = await connectBusFromSettings(config.nats, { name: 'krbfleet-spn-sync', logger })
      consumerLagMetric(registry, () => consumerLag(bus, Object.values(durables)))
      const sync = await startSpnSync({
        bus,
        directory,
        logger,
        resyncIntervalMs: config.spn.resyncIntervalMs,
        concurrency: config.spn.concurrency,
        metrics: createSpnMetrics(registry),
        ...(failpoint ? { failpoint: (point: Failpoint) => failpoint(point, logger) } : {}),
      })
      const health = await startHealthServer({
        name: 'spn-sync',
        ...config.http,
        logger,
        registry,
        checks: {
          nats: () => bus.isConnected(),
          ldap: async () => {
            await directory.rootDse()
            return true
          },
        },
      })
      return {
        consumers: [sync],
        nats: [bus],
        http: [health],
        ldap: [directory],
      }
    },
  })
}

if (import.meta.main) await runSpnSync()
