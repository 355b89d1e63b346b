import { NatsSettings } from '@krbfleet/bus'
import { codec } from '@krbfleet/contracts'
import { HttpSettings } from '@krbfleet/runtime'
import Type, { type Static } from 'typebox'

/**
 * Settings of the topology service (libs/runtime loadConfig): KRBFLEET_NATS_* (libs/bus
 * NatsSettings), KRBFLEET_HTTP_HOST / KRBFLEET_HTTP_PORT (/healthz /readyz /metrics, default 9101),
 * KRBFLEET_AUTO_ENABLE, or a JSON file in KRBFLEET_CONFIG.
 */
export const TopologyConfig = codec(
  Type.Object({
    nats: NatsSettings,
    /** Enable every change at once instead of waiting for `topology enable`. */
    autoEnable: Type.Boolean({ default: false }),
    http: HttpSettings(9101),
  }),
  'topology configuration',
)
export type TopologyConfig = Static<typeof TopologyConfig.schema>
