import { callRpc, connectBusFromSettings } from '@krbfleet/bus'
import { runService } from '@krbfleet/runtime'
import { loadTokensFile } from './adapters/fs/tokens-file.ts'
import { buildApp } from './app.ts'
import { ConsoleConfig } from './config.ts'

// The console process: the REST API (with /healthz /readyz /metrics on the same port) over NATS.
await runService({
  name: 'console',
  config: ConsoleConfig,
  async start({ logger, config, signal }) {
    const tokens = await loadTokensFile(config.console.tokensFile)
    if (tokens.length === 0) logger.warn('no console tokens configured: every /v1 request will be refused')
    // Waits for a NATS server that is not up yet; SIGTERM meanwhile aborts the wait (signal).
    const bus = await connectBusFromSettings(config.nats, {
      name: 'krbfleet-console',
      logger,
      waitOnFirstConnect: true,
      signal,
    })
    await bus.ensureStreams()
    const app = await buildApp({
      logger,
      tokens,
      rpc: (service, operation, body, options) => callRpc(bus, service, operation, body, options),
      publish: (e) => bus.publish(e),
      checks: { nats: () => bus.isConnected() },
    })
    await app.listen(config.http)
    logger.info({ ...config.http, tokens: tokens.length }, 'console listening')
    // HTTP closes before NATS drains would cut answers short; runService stops nats then http,
    // so the app goes under `consumers` (stops taking requests first).
    return { consumers: [app], nats: [bus] }
  },
})
