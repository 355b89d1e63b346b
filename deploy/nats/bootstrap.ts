/**
 * Creates krbfleet's JetStream streams and KV buckets as the bootstrap identity, the only NATS user
 * with stream-administration rights (deploy/nats/src/permissions.ts). Run it once before the
 * services first start, and after an upgrade that changes a stream:
 *
 *   KRBFLEET_NATS_URL=tls://hub-1:4222 KRBFLEET_NATS_CA_FILE=/etc/nats/tls/ca.pem \
 *   KRBFLEET_NATS_USER=krbfleet-bootstrap KRBFLEET_NATS_INBOX_PREFIX=_INBOX_krbfleet-bootstrap \
 *   KRBFLEET_NATS_PASSWORD_FILE=/etc/krbfleet/nats-bootstrap.password KRBFLEET_STREAMS_REPLICAS=3 \
 *   node deploy/nats/bootstrap.ts
 */
import { connectBusFromSettings } from '@krbfleet/bus'
import { createLogger } from '@krbfleet/logging'
import { loadConfig } from '@krbfleet/runtime'
import { BootstrapConfig, bootstrapStreams } from './src/bootstrap.ts'

const logger = createLogger({ name: 'nats-bootstrap' })
try {
  const config = loadConfig(BootstrapConfig, { env: process.env })
  const bus = await connectBusFromSettings(config.nats, {
    name: 'krbfleet-bootstrap',
    logger,
    replicas: config.streams.replicas,
  })
  try {
    const done = await bootstrapStreams(bus)
    logger.info(done, 'streams and buckets are in place')
  } finally {
    await bus.close()
  }
} catch (err) {
  logger.error({ err }, 'bootstrap failed')
  process.exitCode = 1
}
