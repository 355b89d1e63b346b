import { connectBusFromSettings, consumerLag } from '@krbfleet/bus'
import { streams } from '@krbfleet/contracts'
import { consumerLagMetric, createMetricsRegistry, runService, startHealthServer } from '@krbfleet/runtime'
import { agentHeartbeatDurable, agentStatusDurable } from './agents/projection.ts'
import { TopologyConfig } from './config.ts'
import { startTopology } from './start.ts'

// The topology service process: NATS, the RPC operations, and /healthz /readyz /metrics.
await runService({
  name: 'topology',
  config: TopologyConfig,
  async start({ logger, config, signal }) {
    // Waits for a NATS server that is not up yet; SIGTERM meanwhile aborts the wait (signal).
    const bus = await connectBusFromSettings(config.nats, {
      name: 'krbfleet-topology',
      logger,
      waitOnFirstConnect: true,
      signal,
    })
    const topology = await startTopology({ bus, logger, autoEnable: config.autoEnable })
    const registry = createMetricsRegistry({ service: 'topology' })
    consumerLagMetric(registry, () =>
      consumerLag(bus, [
        agentStatusDurable,
        { stream: streams.heartbeats.name, durable: agentHeartbeatDurable },
      ]),
    )
    const health = await startHealthServer({
      name: 'topology',
      ...config.http,
      logger,
      registry,
      checks: { nats: () => bus.isConnected() },
    })
    logger.info({ autoEnable: config.autoEnable }, 'topology service ready')
    return { consumers: [topology], nats: [bus], http: [health] }
  },
})
