import { platform } from 'node:os'
import { join } from 'node:path'
import { NatsSettings } from '@krbfleet/bus'
import { type Codec, codec, KrbfleetError, normalizeFqdn, ValidationError } from '@krbfleet/contracts'
import { HttpSettings } from '@krbfleet/runtime'
import Type, { type Static } from 'typebox'

/** Where the agent keeps its state when KRBFLEET_AGENT_STATE_DIR is not set. */
export const defaultStateDir =
  platform() === 'win32' ? 'C:\\ProgramData\\krbfleet\\agent' : '/var/lib/krbfleet-agent'

/** The key file inside the state directory when KRBFLEET_AGENT_KEY_FILE is not set. */
export const defaultKeyFileName = 'agent-key.pem'

const AgentConfigSchema = Type.Object({
  nats: NatsSettings,
  agent: Type.Object({
    /** KRBFLEET_AGENT_SERVER: this web server's FQDN as the topology knows it (RFC 1123, lower-cased). */
    server: Type.String({ minLength: 1, maxLength: 253 }),
    /** KRBFLEET_AGENT_BACKEND: how credentials will be installed (IIS, or an MIT keytab). */
    backend: Type.Union([Type.Literal('iis'), Type.Literal('keytab')], { default: 'keytab' }),
    /** KRBFLEET_AGENT_STATE_DIR: the agent's own folder (mode 0700 when the agent creates it). */
    stateDir: Type.String({ minLength: 1, default: defaultStateDir }),
    /** KRBFLEET_AGENT_KEY_FILE: the X25519 private key (PEM, mode 0600); default `<stateDir>/agent-key.pem`. */
    keyFile: Type.Optional(Type.String({ minLength: 1 })),
    /** KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: how often AgentHeartbeat is published. */
    heartbeatIntervalMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
  }),
  http: HttpSettings(9110),
})

export type AgentSettings = Static<typeof AgentConfigSchema>

/** The settings with the server FQDN canonical and the key file path resolved. */
export type AgentConfig = AgentSettings & { agent: AgentSettings['agent'] & { keyFile: string } }

const shape = codec(AgentConfigSchema, 'iis-agent configuration')

/**
 * The agent's settings (libs/runtime loadConfig naming: `agent.keyFile` -> KRBFLEET_AGENT_KEY_FILE):
 * KRBFLEET_NATS_* (libs/bus NatsSettings), KRBFLEET_HTTP_HOST / KRBFLEET_HTTP_PORT (default 9110:
 * /healthz /readyz /metrics), KRBFLEET_AGENT_*. The shape is checked by the schema; the server name
 * by the same FQDN rule as the topology (so the agent enrols under the name the topology stores).
 */
export const AgentConfig: Codec<typeof AgentConfigSchema> = {
  ...shape,
  decode(value: unknown): AgentConfig {
    const settings = shape.decode(value)
    let server: string
    try {
      server = normalizeFqdn(settings.agent.server, 'agent.server')
    } catch (err) {
      if (!(err instanceof KrbfleetError)) throw err
      // loadConfig turns the field into the variable name: KRBFLEET_AGENT_SERVER (agent.server).
      throw new ValidationError(
        [{ field: 'agent.server', rule: err.message.replace(/^agent\.server: /, '') }],
        'iis-agent configuration',
      )
    }
    return resolveAgentConfig({ ...settings, agent: { ...settings.agent, server } })
  },
}

/** The settings with the key file path filled in (`<stateDir>/agent-key.pem` unless set). */
export function resolveAgentConfig(settings: AgentSettings): AgentConfig {
  const keyFile = settings.agent.keyFile ?? join(settings.agent.stateDir, defaultKeyFileName)
  return { ...settings, agent: { ...settings.agent, keyFile } }
}
