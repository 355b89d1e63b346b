import { NatsSettings } from '@krbfleet/bus'
import { codec, LdapTimeoutMs } from '@krbfleet/contracts'
import { HttpSettings } from '@krbfleet/runtime'
import Type, { type Static } from 'typebox'
import { defaultRateLimit } from './plugins/rate-limit.ts'

/**
 * Settings of the console (libs/runtime loadConfig): KRBFLEET_NATS_* (libs/bus NatsSettings),
 * KRBFLEET_HTTP_HOST / KRBFLEET_HTTP_PORT (the API with /healthz /readyz, default 8080),
 * KRBFLEET_LDAP_TIMEOUT_MS (how long the services that talk to AD may take), KRBFLEET_CONSOLE_TOKENS_FILE
 * (JSON `[{name, role, sha256}]`), and the limits and metrics access
 * below (README "Limits" and "Metrics").
 */
export const ConsoleConfig = codec(
  Type.Object({
    nats: NatsSettings,
    http: HttpSettings(8080),
    /**
     * KRBFLEET_LDAP_TIMEOUT_MS, the same setting the account service and spn-sync run with: the
     * console waits longer for them than their LDAP work may take (contracts timeouts.ts).
     */
    ldap: Type.Object({ timeoutMs: LdapTimeoutMs }),
    console: Type.Object({
      tokensFile: Type.String({ minLength: 1 }),
      rateLimit: Type.Object({
        /** KRBFLEET_CONSOLE_RATE_LIMIT_MAX: requests of one token per window. */
        max: Type.Integer({ minimum: 1, default: defaultRateLimit.max }),
        /** KRBFLEET_CONSOLE_RATE_LIMIT_ANONYMOUS_MAX: requests of one address without a valid token. */
        anonymousMax: Type.Integer({ minimum: 1, default: defaultRateLimit.anonymousMax }),
        /** KRBFLEET_CONSOLE_RATE_LIMIT_WINDOW_SECONDS. */
        windowSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: defaultRateLimit.windowSeconds }),
      }),
      /** KRBFLEET_CONSOLE_AUDIT_REFUSALS_PER_MINUTE: refusals of one token recorded one by one. */
      auditRefusalsPerMinute: Type.Integer({ minimum: 0, maximum: 10_000, default: 10 }),
      /** KRBFLEET_CONSOLE_METRICS: who may read /metrics (off, token, open). */
      metrics: Type.Union([Type.Literal('off'), Type.Literal('token'), Type.Literal('open')], {
        default: 'token',
      }),
      /** KRBFLEET_CONSOLE_METRICS_PORT: the port of /metrics (and the probes) when metrics are `open`. */
      metricsPort: Type.Integer({ minimum: 0, maximum: 65535, default: 9108 }),
    }),
  }),
  'console configuration',
)
export type ConsoleConfig = Static<typeof ConsoleConfig.schema>
