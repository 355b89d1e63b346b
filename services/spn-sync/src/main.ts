import { connectBusFromSettings } from '@krbfleet/bus'
import { connectDirectoryFromSettings } from '@krbfleet/directory'
import { createMetricsRegistry, runService, startHealthServer } from '@krbfleet/runtime'
import { SpnSyncConfig } from './config.ts'
import { createSpnMetrics } from './metrics.ts'
import { startSpnSync } from './start.ts'

// The process edge of spn-sync: configuration, connections, health server, ordered shutdown
// (runService owns the signals). A bad setting or an unreachable DC stops start-up naming the cause.
await runService({
  name: 'spn-sync',
  config: SpnSyncConfig,
  async start({ config, logger }) {
    const directory = await connectDirectoryFromSettings(config.ldap, { logger })
    const bus = await connectBusFromSettings(config.nats, { name: 'krbfleet-spn-sync', logger })
    const registry = createMetricsRegistry({ service: 'spn-sync' })
    const failpoint = config.spn.failpoint
    const sync = await startSpnSync({
      bus,
      directory,
      logger,
      resyncIntervalMs: config.spn.resyncIntervalMs,
      concurrency: config.spn.concurrency,
      metrics: createSpnMetrics(registry),
      ...(failpoint
        ? {
            failpoint: (point) => {
              if (point !== failpoint) return
              logger.fatal(
                { failpoint: point },
                'failpoint reached: killing the process (KRBFLEET_SPN_FAILPOINT)',
              )
              logger.flush()
              process.kill(process.pid, 'SIGKILL')
            },
          }
        : {}),
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
