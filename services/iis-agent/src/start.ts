import type { KeyObject } from 'node:crypto'
import type { BackoffPolicy, Bus } from '@krbfleet/bus'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { importPublicKey, keyIdOf } from '@krbfleet/sealing'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import { type Enrolment, startEnrolment } from './adapters/nats/enrolment.ts'
import { type Heartbeat, startHeartbeat } from './adapters/nats/heartbeat.ts'
import { type AgentKey, loadOrCreateAgentKey } from './adapters/fs/key-store.ts'
import { createBackend } from './backends.ts'
import type { AgentConfig } from './config.ts'
import { type CredentialReceiver, startCredentialReceiver } from './credentials/receiver.ts'
import type { CredentialBackend } from './ports.ts'

export interface StartAgentOptions {
  bus: Bus
  logger: Logger
  config: Pick<AgentConfig, 'agent'>
  /** Where the agent's metrics are registered (the health server's registry). */
  registry?: Registry
  /** Enrolment retry policy (default 1 s doubling up to 60 s). */
  enrolBackoff?: BackoffPolicy
  /** The credential backend; default: the configured one (backends.ts). */
  backend?: CredentialBackend
}

export interface AgentInstance {
  key: Pick<AgentKey, 'encryptionKey' | 'keyId' | 'created' | 'path'>
  enrolment: Enrolment
  /** Receives and installs the credential; absent without KRBFLEET_AGENT_SIGNER_KEY. */
  credentials?: CredentialReceiver
  /** Enrolled (the topology knows this server's key): with a connected bus, the agent is ready. */
  isEnrolled(): boolean
  /** Stops enrolling, receiving and heartbeats; the bus stays open (its owner drains it). */
  stop(): Promise<void>
}

/**
 * The agent: its key pair (created on first start), enrolment with the topology service, the
 * credential receiver (credentials/receiver.ts) installing this server's credential through the
 * backend, and once enrolled a heartbeat every interval with the kvnos held and the backend's health.
 */
export async function startAgent(options: StartAgentOptions): Promise<AgentInstance> {
  const { agent } = options.config
  const logger = options.logger.child({ component: 'agent', server: agent.server })
  const key = await loadOrCreateAgentKey(agent.keyFile, { setting: 'KRBFLEET_AGENT_KEY_FILE' })
  // Only the public half and its fingerprint are logged.
  logger.info(
    { keyFile: key.path, keyId: key.keyId, encryptionKey: key.encryptionKey, created: key.created },
    key.created ? 'generated a new agent key pair' : 'using the agent key pair from the key file',
  )
  // No ensureStreams(): the services create the streams; an agent's NATS user may only publish
  // agent events and call the topology service (deploy/nats permissions). A heartbeat published
  // before the stream exists fails, is logged, and the next tick tries again.

  const registers = options.registry ? { registers: [options.registry] } : { registers: [] }
  const enrolAttempts = new Counter({
    name: 'krbfleet_agent_enrol_attempts_total',
    help: 'agent.enrol calls by outcome',
    labelNames: ['outcome'],
    ...registers,
  })
  const enrolledGauge = new Gauge({
    name: 'krbfleet_agent_enrolled',
    help: '1 once the topology holds this agent key',
    ...registers,
  })
  const heartbeats = new Counter({
    name: 'krbfleet_agent_heartbeats_total',
    help: 'AgentHeartbeat publishes by outcome',
    labelNames: ['outcome'],
    ...registers,
  })
  const received = new Counter({
    name: 'krbfleet_agent_credentials_total',
    help: 'retained credentials handled, by outcome',
    labelNames: ['outcome'],
    ...registers,
  })
  enrolledGauge.set(0)

  let heartbeat: Heartbeat | undefined
  let credentials: CredentialReceiver | undefined
  if (agent.signerKey === undefined) {
    logger.warn('KRBFLEET_AGENT_SIGNER_KEY is not set: no credential is received or installed')
  } else {
    const signer = trustedSigner(agent.signerKey)
    const backend = options.backend ?? (await createBackend(agent, logger))
    logger.info({ backend: backend.kind, signer: signer.keyId }, 'receiving credentials')
    credentials = startCredentialReceiver({
      bus: options.bus,
      logger,
      server: agent.server,
      key,
      signer: [signer],
      backend,
      refreshIntervalMs: agent.credentialRefreshMs,
      onOutcome: (outcome) => received.inc({ outcome }),
      // What the server holds or its health changed and no report said it: show it now, not at
      // the next tick. Also once the backend was first read at start: the first heartbeat may have
      // gone out before.
      onHeldChanged: () => heartbeat?.beatNow(),
    })
  }

  const enrolment = startEnrolment({
    bus: options.bus,
    logger,
    server: agent.server,
    encryptionKey: key.encryptionKey,
    tokenFile: agent.enrolTokenFile,
    ...(options.enrolBackoff ? { backoff: options.enrolBackoff } : {}),
    onAttempt: (outcome) => enrolAttempts.inc({ outcome }),
  })
  let stopped = false
  enrolment.enrolled.then(
    () => {
      enrolledGauge.set(1)
      if (stopped) return
      heartbeat = startHeartbeat({
        bus: options.bus,
        logger,
        server: agent.server,
        backend: agent.backend,
        intervalMs: agent.heartbeatIntervalMs,
        held: () => credentials?.held() ?? [],
        ...(credentials ? { health: () => credentials.health() } : {}),
        onPublished: (duplicate) => heartbeats.inc({ outcome: duplicate ? 'duplicate' : 'published' }),
        onFailed: () => heartbeats.inc({ outcome: 'failed' }),
      })
    },
    () => {},
  )

  return {
    key: { encryptionKey: key.encryptionKey, keyId: key.keyId, created: key.created, path: key.path },
    enrolment,
    ...(credentials ? { credentials } : {}),
    isEnrolled: () => enrolment.isEnrolled(),
    async stop() {
      stopped = true
      await enrolment.stop()
      await credentials?.stop()
      await heartbeat?.stop()
    },
  }
}

/** The account service's signing key, checked at start: a wrong setting fails here, not at each credential. */
function trustedSigner(value: string): { publicKey: KeyObject; keyId: string } {
  let publicKey: KeyObject
  try {
    publicKey = importPublicKey(value, 'ed25519', 'agent.signerKey')
  } catch {
    throw new KrbfleetError(
      ErrorCode.Invalid,
      "KRBFLEET_AGENT_SIGNER_KEY must be the account service's Ed25519 public key (base64url of 32 bytes, or a PEM)",
      { field: 'agent.signerKey', retryable: false },
    )
  }
  return { publicKey, keyId: keyIdOf(publicKey) }
}
