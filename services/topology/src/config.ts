import { codec } from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'

/**
 * Settings of the topology service (libs/runtime loadConfig: `KRBFLEET_NATS_URL`,
 * `KRBFLEET_AUTO_ENABLE`, `KRBFLEET_HEALTH_PORT`, ... or a JSON file in `KRBFLEET_CONFIG`).
 */
export const TopologyConfig = codec(
  Type.Object({
    nats: Type.Object({
      url: Type.String({ minLength: 1, default: 'nats://127.0.0.1:4222' }),
      user: Type.Optional(Type.String({ minLength: 1 })),
      pass: Type.Optional(Type.String({ minLength: 1 })),
    }),
    /** Enable every change at once instead of waiting for `topology enable`. */
    autoEnable: Type.Boolean({ default: false }),
    health: Type.Object({
      host: Type.String({ minLength: 1, default: '127.0.0.1' }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: 9101 }),
    }),
  }),
  'topology configuration',
)
export type TopologyConfig = Static<typeof TopologyConfig.schema>
