import { callRpc, connectBusFromSettings } from '@krbfleet/bus'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { createMetricsRegistry, runService, type StoppablePart, startHealthServer } from '@krbfleet/runtime'
import { loadTokensFile } from './adapters/fs/tokens-file.ts'
import { busReaders } from './adapters/nats/readers.ts'
import { buildApp } from './app.ts'
import { ConsoleConfig } from './config.ts'

// The console process: the REST API (with /healthz /readyz, and /metrics unless KRBFLEET_CONSOLE_METRICS
// says otherwise) over NATS.
await runService({
  name: 'console',
  config: ConsoleConfig,
  async start({ logger, config, signal }) {
    const settings = config.console
    if (settings.metrics === 'open' && settings.metricsPort === config.http.port && config.http.port !== 0) {
      throw new KrbfleetError(
        ErrorCode.Invalid,
        'KRBFLEET_CONSOLE_METRICS_PORT must differ from KRBFLEET_HTTP_PORT: open metrics get a port of their own',
        { field: 'console.metricsPort' },
      )
    }
    const tokens = await loadTokensFile(settings.tokensFile)
    if (tokens.length === 0) logger.warn('no console tokens configured: every /v1 request will be refused')
    // Waits for a NATS server that is not up yet; SIGTERM meanwhile aborts the wait (signal).
    const bus = await connectBusFromSettings(config.nats, {
      name: 'krbfleet-console',
      logger,
      waitOnFirstConnect: true,
      signal,
    })
    await bus.ensureStreams()
    const registry = createMetricsRegistry()
    const checks = { nats: () => bus.isConnected() }
    const app = await buildApp(
      {
        logger,
        tokens,
        rpc: (service, operation, body, options) => callRpc(bus, service, operation, body, options),
        publish: (e) => bus.publish(e),
        ...busReaders(bus),
        checks,
      },
      {
        rateLimit: settings.rateLimit,
        auditRefusals: { perWindow: settings.auditRefusalsPerMinute, windowMs: 60_000 },
        metrics: settings.metrics,
        registry,
        ldapTimeoutMs: config.ldap.timeoutMs,
      },
    )
    await app.listen(config.http)
    const http: StoppablePart[] = []
    if (settings.metrics === 'open') {
      // /metrics without a token, with the probes, on a port of its own (the other services' health port).
      const server = await startHealthServer({
        name: 'console',
        host: config.http.host,
        port: settings.metricsPort,
        logger,
        registry,
        checks,
      })
      http.push(server)
    }
    logger.info(
      { ...config.http, tokens: tokens.length, metrics: settings.metrics, rateLimit: settings.rateLimit },
      'console listening',
    )
    // HTTP closes before NATS drains would cut answers short; runService stops nats then http,
    // so the app goes under `consumers` (stops taking requests first, and sums up the audit
    // windows while NATS is still there).
    return { consumers: [app], nats: [bus], http }
  },
})
