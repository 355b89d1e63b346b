import { NatsSettings } from '@krbfleet/bus'
import { codec } from '@krbfleet/contracts'
import { HttpSettings } from '@krbfleet/runtime'
import Type, { type Static } from 'typebox'

/**
 * Settings of the console (libs/runtime loadConfig): KRBFLEET_NATS_* (libs/bus NatsSettings),
 * KRBFLEET_HTTP_HOST / KRBFLEET_HTTP_PORT (the API with /healthz /readyz /metrics, default 8080),
 * KRBFLEET_CONSOLE_TOKENS_FILE (JSON `[{name, role, sha256}]`).
 */
export const ConsoleConfig = codec(
  Type.Object({
    nats: NatsSettings,
    http: HttpSettings(8080),
    console: Type.Object({
      tokensFile: Type.String({ minLength: 1 }),
    }),
  }),
  'console configuration',
)
export type ConsoleConfig = Static<typeof ConsoleConfig.schema>
