import { connectBus } from '@krbfleet/bus'
import { connectDirectory } from '@krbfleet/directory'
import { createMetricsRegistry, runService, startHealthServer } from '@krbfleet/runtime'
import { SpnSyncConfig } from './config.ts'
import { createSpnMetrics } from './metrics.ts'
import { startSpnSync } from './service.ts'

// The process edge of spn-sync: configuration, connections, health server, ordered shutdown
// (runService owns the signals). A bad setting or an unreachable DC stops start-up naming the cause.
await runService({
  name: 'spn-sync',
  config: SpnSyncConfig,
  async start({ config, logger }) {
    const directory = await connectDirectory({
      url: config.ldap.url,
      startTls: config.ldap.startTls,
      caFile: config.ldap.caFile,
      ...(config.ldap.servername ? { servername: config.ldap.servername } : {}),
      bindDn: config.ldap.bindDn,
      password: config.ldap.password,
      timeoutMs: config.ldap.timeoutMs,
      logger,
    })
    const bus = await connectBus({
      servers: config.nats.url,
      name: 'krbfleet-spn-sync',
      logger,
      ...(config.nats.user ? { user: config.nats.user } : {}),
      ...(config.nats.password ? { pass: config.nats.password } : {}),
    })
    const registry = createMetricsRegistry({ service: 'spn-sync' })
    const failpoint = config.spn.failpoint
    const sync = await startSpnSync({
      bus,
      directory,
      logger,
      resyncIntervalMs: config.spn.resyncIntervalMs,
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
      host: config.http.host,
      port: config.http.port,
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
