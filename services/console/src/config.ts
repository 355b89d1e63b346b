import { codec } from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'

/**
 * Settings of the console (libs/runtime loadConfig): `KRBFLEET_NATS_URL`, `KRBFLEET_HTTP_HOST`,
 * `KRBFLEET_HTTP_PORT`, `KRBFLEET_CONSOLE_TOKENS_FILE` (JSON `[{name, role, sha256}]`), ...
 */
export const ConsoleConfig = codec(
  Type.Object({
    nats: Type.Object({
      url: Type.String({ minLength: 1, default: 'nats://127.0.0.1:4222' }),
      user: Type.Optional(Type.String({ minLength: 1 })),
      pass: Type.Optional(Type.String({ minLength: 1 })),
    }),
    http: Type.Object({
      host: Type.String({ minLength: 1, default: '127.0.0.1' }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    }),
    console: Type.Object({
      tokensFile: Type.String({ minLength: 1 }),
    }),
  }),
  'console configuration',
)
export type ConsoleConfig = Static<typeof ConsoleConfig.schema>
