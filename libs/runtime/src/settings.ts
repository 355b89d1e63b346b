import Type, { type Static } from 'typebox'

/**
 * The HTTP settings group of a service (`http: HttpSettings(9101)`): where its API or its
 * /healthz /readyz /metrics listen. Variables: KRBFLEET_HTTP_HOST, KRBFLEET_HTTP_PORT (0 picks a free port).
 */
export function HttpSettings(defaultPort: number) {
  return Type.Object({
    host: Type.String({ minLength: 1, default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: defaultPort }),
  })
}
export type HttpSettings = Static<ReturnType<typeof HttpSettings>>

/**
 * Variables an earlier version read, and the one that replaced each. loadConfig refuses a retired
 * name when the schema has its replacement, so a unit file written for the old name fails loudly
 * instead of being ignored (a health port silently back at its default).
 */
export const retiredSettings: Readonly<Record<string, string>> = {
  KRBFLEET_NATS_PASS: 'KRBFLEET_NATS_PASSWORD',
  KRBFLEET_NATS_PASS_FILE: 'KRBFLEET_NATS_PASSWORD_FILE',
  KRBFLEET_HEALTH_HOST: 'KRBFLEET_HTTP_HOST',
  KRBFLEET_HEALTH_PORT: 'KRBFLEET_HTTP_PORT',
}
