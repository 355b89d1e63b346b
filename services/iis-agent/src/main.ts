import { connectBusFromSettings } from '@krbfleet/bus'
import { createMetricsRegistry, runService, startHealthServer } from '@krbfleet/runtime'
import { AgentConfig, resolveAgentConfig } from './config.ts'
import { startAgent } from './start.ts'

// The agent process on a web server: key pair, enrolment, heartbeats, /healthz /readyz /metrics.
await runService({
  name: 'iis-agent',
  config: AgentConfig,
  async start({ logger, config: settings, signal }) {
    const config = resolveAgentConfig(settings)
    const log = logger.child({ server: config.agent.server })
    // Waits for a NATS server that is not up yet; SIGTERM meanwhile aborts the wait (signal).
    const bus = await connectBusFromSettings(config.nats, {
      name: `krbfleet-agent-${config.agent.server}`,
      logger: log,
      waitOnFirstConnect: true,
      signal,
    })
    const registry = createMetricsRegistry({ service: 'iis-agent', server: config.agent.server })
    let agent: Awaited<ReturnType<typeof startAgent>>
    try {
      agent = await startAgent({ bus, logger: log, config, registry })
    } catch (err) {
      await bus.close().catch(() => {})
      throw err
    }
    const health = await startHealthServer({
      name: 'iis-agent',
      ...config.http,
      logger: log,
      registry,
      checks: { nats: () => bus.isConnected(), enrolled: () => agent.isEnrolled() },
    })
    log.info({ backend: config.agent.backend, http: health.url }, 'iis-agent started; enrolling')
    return { consumers: [agent], nats: [bus], http: [health] }
  },
})
