import { ErrorCode, KrbfleetError, streams, ValidationError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import Type, { type Static } from 'typebox'
import { type Bus, type ConnectBusOptions, connectBus, withoutCredentials } from './connect.ts'

/**
 * The NATS settings group every service config composes (`nats: NatsSettings`). With libs/runtime
 * loadConfig the variables are KRBFLEET_NATS_URL (one URL or a comma-separated list: a cluster's
 * seed list), KRBFLEET_NATS_USER, KRBFLEET_NATS_PASSWORD (or KRBFLEET_NATS_PASSWORD_FILE),
 * KRBFLEET_NATS_CA_FILE, KRBFLEET_NATS_CERT_FILE, KRBFLEET_NATS_KEY_FILE, KRBFLEET_NATS_INBOX_PREFIX.
 */
export const NatsSettings = Type.Object({
  url: Type.Array(Type.String({ minLength: 1 }), {
    minItems: 1,
    default: ['nats://127.0.0.1:4222'],
    description: 'one URL or a comma-separated list (tls://hub-1:4222,tls://hub-2:4222)',
  }),
  user: Type.Optional(Type.String({ minLength: 1 })),
  password: Type.Optional(Type.String({ minLength: 1 })),
  /** PEM CA the server's certificate must chain to; setting it makes TLS required. */
  caFile: Type.Optional(Type.String({ minLength: 1 })),
  /** Client certificate and key (PEM), when the server verifies clients. */
  certFile: Type.Optional(Type.String({ minLength: 1 })),
  keyFile: Type.Optional(Type.String({ minLength: 1 })),
  /** Reply-inbox prefix of this identity (`_INBOX_krbfleet-account`): one subject, no wildcard or space. */
  inboxPrefix: Type.Optional(
    Type.String({ pattern: '^[^.*>\\s]+(\\.[^.*>\\s]+)*$', description: 'e.g. _INBOX_krbfleet-account' }),
  ) /** Size limits of the events stream (KRBFLEET_NATS_EVENTS_MAX_BYTES / _MAX_MESSAGES); oldest go first. */,
  /** JetStream domain (KRBFLEET_NATS_JS_DOMAIN): `hub` for an agent on a site's leaf node. */
  jsDomain: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$', description: 'e.g. hub' })),
  eventsMaxBytes: Type.Optional(Type.Integer({ minimum: 1024 * 1024, description: 'bytes, at least 1 MiB' })),
  eventsMaxMessages: Type.Optional(Type.Integer({ minimum: 1000, description: 'messages, at least 1000' })),
})
export type NatsSettings = Static<typeof NatsSettings>

/** What a caller may hand over: the loaded settings, or a literal in code (url as one string). */
export type NatsSettingsInput = Omit<NatsSettings, 'url'> & { url: string | string[] }

/** The connectBus options a settings group stands for (servers, credentials, TLS). */
export function busOptionsFromSettings(
  settings: NatsSettingsInput,
): Pick<
  ConnectBusOptions,
  'servers' | 'user' | 'pass' | 'tls' | 'inboxPrefix' | 'jsDomain' | 'streamLimits'
> {
  if ((settings.certFile === undefined) !== (settings.keyFile === undefined)) {
    const missing = settings.certFile === undefined ? 'certFile' : 'keyFile'
    throw new ValidationError([
      { field: `nats.${missing}`, rule: 'nats.certFile and nats.keyFile go together: set both or neither' },
    ])
  }
  const tls = {
    ...(settings.caFile ? { caFile: settings.caFile } : {}),
    ...(settings.certFile ? { certFile: settings.certFile } : {}),
    ...(settings.keyFile ? { keyFile: settings.keyFile } : {}),
  }
  return {
    servers: settings.url,
    ...(settings.user !== undefined ? { user: settings.user } : {}),
    ...(settings.password !== undefined ? { pass: settings.password } : {}),
    ...(settings.inboxPrefix !== undefined ? { inboxPrefix: settings.inboxPrefix } : {}),
    ...(settings.jsDomain !== undefined ? { jsDomain: settings.jsDomain } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(settings.eventsMaxBytes !== undefined || settings.eventsMaxMessages !== undefined
      ? {
          streamLimits: {
            [streams.events.name]: {
              ...(settings.eventsMaxBytes !== undefined ? { maxBytes: settings.eventsMaxBytes } : {}),
              ...(settings.eventsMaxMessages !== undefined
                ? { maxMessages: settings.eventsMaxMessages }
                : {}),
            },
          },
        }
      : {}),
  }
}

export interface ConnectBusFromSettingsOptions
  extends Omit<
    ConnectBusOptions,
    'servers' | 'user' | 'pass' | 'tls' | 'inboxPrefix' | 'streamLimits' | 'name' | 'logger'
  > {
  /** Connection name shown by the server (`krbfleet-account`). */
  name: string
  logger: Logger
  /**
   * Abandons the connection attempt when aborted (runService aborts it on SIGTERM during start-up):
   * with `waitOnFirstConnect` a server that is down would otherwise keep start-up waiting forever.
   */
  signal?: AbortSignal
}

/** connectBus from a settings group; honours `signal` while it waits for the first connection. */
export async function connectBusFromSettings(
  settings: NatsSettingsInput,
  options: ConnectBusFromSettingsOptions,
): Promise<Bus> {
  const { signal, ...rest } = options
  const connectOptions: ConnectBusOptions = { ...rest, ...busOptionsFromSettings(settings) }
  const servers = [settings.url].flat().map(withoutCredentials).join(',')
  signal?.throwIfAborted()
  options.logger.info(
    { servers, name: options.name, tls: connectOptions.tls !== undefined },
    'connecting to NATS',
  )
  const connecting = connectBus(connectOptions)
  if (!signal) return await connecting
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () =>
      reject(
        new AbandonedConnectError(`connecting to NATS at ${servers} was abandoned: ${reasonOf(signal)}`, {
          cause: signal.reason,
        }),
      )
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([connecting, aborted])
  } catch (err) {
    // A connection that comes up after all is closed at once: nobody holds it.
    if (err instanceof AbandonedConnectError) void connecting.then((bus) => bus.close()).catch(() => {})
    throw err
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}

/** Start-up was stopped (a shutdown began) while the first NATS connection was still being made. */
export class AbandonedConnectError extends KrbfleetError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    // Not retryable: the process is stopping, nobody is left to retry.
    super(ErrorCode.Unavailable, message, { ...options, retryable: false })
    this.name = 'AbandonedConnectError'
  }
}

function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason
  if (reason instanceof Error) return reason.message
  return typeof reason === 'string' ? reason : 'start-up was stopped'
}
