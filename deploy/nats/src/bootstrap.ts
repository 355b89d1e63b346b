import { type Bus, NatsSettings } from '@krbfleet/bus'
import { buckets, codec, streams } from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'

/**
 * Settings of `node deploy/nats/bootstrap.ts` (libs/runtime loadConfig): KRBFLEET_NATS_* as for
 * every service (user krbfleet-bootstrap, KRBFLEET_NATS_INBOX_PREFIX=_INBOX_krbfleet-bootstrap,
 * KRBFLEET_NATS_PASSWORD_FILE), and KRBFLEET_STREAMS_REPLICAS (3 on the hub cluster).
 */
export const BootstrapConfig = codec(
  Type.Object({
    nats: NatsSettings,
    streams: Type.Object({ replicas: Type.Integer({ minimum: 1, maximum: 5, default: 1 }) }, { default: {} }),
  }),
  'nats bootstrap configuration',
)
export type BootstrapConfig = Static<typeof BootstrapConfig.schema>

/**
 * Creates (or brings up to date) krbfleet's streams and KV buckets as the one identity allowed to
 * (deploy/nats permissions: bootstrapUser). Services only verify what exists, so this runs before
 * their first start and after an upgrade that changes a stream. Idempotent.
 */
export async function bootstrapStreams(bus: Bus): Promise<{ streams: string[]; buckets: string[] }> {
  await bus.ensureStreams()
  for (const def of Object.values(buckets)) await bus.kv(def)
  return {
    streams: Object.values(streams).map((s) => s.name),
    buckets: Object.values(buckets).map((b) => b.bucket),
  }
}
