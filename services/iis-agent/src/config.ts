import { platform } from 'node:os'
import { join } from 'node:path'
import { NatsSettings } from '@krbfleet/bus'
import { type Codec, codec, KrbfleetError, normalizeFqdn, ValidationError } from '@krbfleet/contracts'
import { HttpSettings } from '@krbfleet/runtime'
import Type, { type Static } from 'typebox'

/** Where the agent keeps its state when KRBFLEET_AGENT_STATE_DIR is not set. */
export const defaultStateDir =
  platform() === 'win32' ? 'C:\\ProgramData\\krbfleet\\agent' : '/var/lib/krbfleet-agent'

/** The keytab the web server reads when KRBFLEET_AGENT_KEYTAB is not set. */
export const defaultKeytab =
  platform() === 'win32' ? 'C:\\ProgramData\\krbfleet\\http.keytab' : '/etc/krbfleet/http.keytab'

/** IIS's configuration file when KRBFLEET_AGENT_IIS_CONFIG is not set. */
export const defaultApplicationHost = 'C:\\Windows\\System32\\inetsrv\\config\\applicationHost.config'

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
    /**
     * KRBFLEET_AGENT_ENROL_TOKEN_FILE: the one-time enrolment token (`krbfleet agent token SERVER`),
     * needed for the first enrolment and for a new key; default `<stateDir>/enrol-token`; deleted once used.
     */
    enrolTokenFile: Type.Optional(Type.String({ minLength: 1 })),
    /** KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: how often AgentHeartbeat is published. */
    heartbeatIntervalMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
    /**
     * KRBFLEET_AGENT_SIGNER_KEY: the account service's Ed25519 public key (base64url of the raw 32
     * bytes, as the account service logs it at start, or a PEM); credentials signed by any other key
     * are refused. Not set: the agent enrols and reports but installs no credential.
     */
    signerKey: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    /** KRBFLEET_AGENT_CREDENTIAL_REFRESH_MS: how often the retained credential is read again. */
    credentialRefreshMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 60_000 }),
    /** KRBFLEET_AGENT_KEYTAB: the keytab the web server reads (keytab backend). */
    keytab: Type.String({ minLength: 1, default: defaultKeytab }),
    /** KRBFLEET_AGENT_KEYTAB_GROUP: the group (name or gid) that may read it, e.g. www-data; default the agent's. */
    keytabGroup: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** KRBFLEET_AGENT_KDC_CHECK: check each new key against the KDC with `kinit -k` (keytab backend). */
    kdcCheck: Type.Boolean({ default: true }),
    /** KRBFLEET_AGENT_IIS_CONFIGURATOR: `appcmd` (Windows) or `file` (edits applicationHost.config). */
    iisConfigurator: Type.Union([Type.Literal('appcmd'), Type.Literal('file')], {
      default: platform() === 'win32' ? 'appcmd' : 'file',
    }),
    /** KRBFLEET_AGENT_IIS_CONFIG: applicationHost.config, for the file configurator. */
    iisConfig: Type.String({ minLength: 1, default: defaultApplicationHost }),
    /** KRBFLEET_AGENT_IIS_POOLS: the application pools that run as the Kerberos account (comma-separated). */
    iisPools: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { default: [], maxItems: 256 }),
    /** KRBFLEET_AGENT_IIS_SITES: the sites whose Windows authentication uses the pool's credentials. */
    iisSites: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { default: [], maxItems: 256 }),
  }),
  http: HttpSettings(9110),
})

export type AgentSettings = Static<typeof AgentConfigSchema>

/** The settings with the server FQDN canonical and the key file path resolved. */
export type AgentConfig = AgentSettings & {
  agent: AgentSettings['agent'] & { keyFile: string; enrolTokenFile: string }
}

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

/** The settings with the key and token file paths filled in (`<stateDir>/agent-key.pem`, `<stateDir>/enrol-token`). */
export function resolveAgentConfig(settings: AgentSettings): AgentConfig {
  const keyFile = settings.agent.keyFile ?? join(settings.agent.stateDir, defaultKeyFileName)
  const enrolTokenFile = settings.agent.enrolTokenFile ?? join(settings.agent.stateDir, 'enrol-token')
  return { ...settings, agent: { ...settings.agent, keyFile, enrolTokenFile } }
}
