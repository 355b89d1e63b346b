import { callRpc, connectBus } from '@krbfleet/bus'
import { runService } from '@krbfleet/runtime'
import { loadTokensFile } from './adapters/tokens-file.ts'
import { buildApp } from './app.ts'
import { ConsoleConfig } from './config.ts'

// The console process: the REST API (with /healthz /readyz /metrics on the same port) over NATS.
await runService({
  name: 'console',
  config: ConsoleConfig,
  async start({ logger, config }) {
    const tokens = await loadTokensFile(config.console.tokensFile)
    if (tokens.length === 0) logger.warn('no console tokens configured: every /v1 request will be refused')
    const bus = await connectBus({
      servers: config.nats.url,
      name: 'krbfleet-console',
      logger,
      ...(config.nats.user ? { user: config.nats.user } : {}),
      ...(config.nats.pass ? { pass: config.nats.pass } : {}),
      waitOnFirstConnect: true,
    })
    await bus.ensureStreams()
    const app = await buildApp({
      logger,
      tokens,
      rpc: (service, operation, body, options) => callRpc(bus, service, operation, body, options),
      publish: (e) => bus.publish(e),
      checks: { nats: () => bus.isConnected() },
      extras: { bus },
    })
    await app.listen({ host: config.http.host, port: config.http.port })
    logger.info(
      { host: config.http.host, port: config.http.port, tokens: tokens.length },
      'console listening',
    )
    // HTTP closes before NATS drains would cut answers short; runService stops nats then http,
    // so the app goes under `consumers` (stops taking requests first).
    return { consumers: [app], nats: [bus] }
  },
})
