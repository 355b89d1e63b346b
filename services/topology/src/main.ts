import { connectBus } from '@krbfleet/bus'
import { runService, startHealthServer } from '@krbfleet/runtime'
import { TopologyConfig } from './config.ts'
import { startTopology } from './start.ts'

// The topology service process: NATS, the RPC operations, and /healthz /readyz /metrics.
await runService({
  name: 'topology',
  config: TopologyConfig,
  async start({ logger, config }) {
    const bus = await connectBus({
      servers: config.nats.url,
      name: 'krbfleet-topology',
      logger,
      ...(config.nats.user ? { user: config.nats.user } : {}),
      ...(config.nats.pass ? { pass: config.nats.pass } : {}),
      waitOnFirstConnect: true,
    })
    const topology = await startTopology({ bus, logger, autoEnable: config.autoEnable })
    const health = await startHealthServer({
      name: 'topology',
      host: config.health.host,
      port: config.health.port,
      logger,
      checks: { nats: () => bus.isConnected() },
    })
    logger.info({ autoEnable: config.autoEnable }, 'topology service ready')
    return { consumers: [topology], nats: [bus], http: [health] }
  },
})
