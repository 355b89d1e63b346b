import type { BackoffPolicy, Bus } from '@krbfleet/bus'
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import { type Enrolment, startEnrolment } from './adapters/nats/enrolment.ts'
import { type Heartbeat, startHeartbeat } from './adapters/nats/heartbeat.ts'
import { type AgentKey, loadOrCreateAgentKey } from './adapters/fs/key-store.ts'
import type { AgentConfig } from './config.ts'

export interface StartAgentOptions {
  bus: Bus
  logger: Logger
  config: Pick<AgentConfig, 'agent'>
  /** Where the agent's metrics are registered (the health server's registry). */
  registry?: Registry
  /** Enrolment retry policy (default 1 s doubling up to 60 s). */
  enrolBackoff?: BackoffPolicy
}

export interface AgentInstance {
  key: Pick<AgentKey, 'encryptionKey' | 'keyId' | 'created' | 'path'>
  enrolment: Enrolment
  /** Enrolled (the topology knows this server's key): with a connected bus, the agent is ready. */
  isEnrolled(): boolean
  /** Stops enrolling and heartbeats; the bus stays open (its owner drains it). */
  stop(): Promise<void>
}

/**
 * The agent before credentials exist: its key pair (created on first start), enrolment with the
 * topology service, then a heartbeat every interval.
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
  enrolledGauge.set(0)

  const enrolment = startEnrolment({
    bus: options.bus,
    logger,
    server: agent.server,
    encryptionKey: key.encryptionKey,
    ...(options.enrolBackoff ? { backoff: options.enrolBackoff } : {}),
    onAttempt: (outcome) => enrolAttempts.inc({ outcome }),
  })
  let heartbeat: Heartbeat | undefined
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
        // Nothing installs credentials in this agent, so it holds no kvno to report.
        held: () => [],
        onPublished: (duplicate) => heartbeats.inc({ outcome: duplicate ? 'duplicate' : 'published' }),
        onFailed: () => heartbeats.inc({ outcome: 'failed' }),
      })
    },
    () => {},
  )

  return {
    key: { encryptionKey: key.encryptionKey, keyId: key.keyId, created: key.created, path: key.path },
    enrolment,
    isEnrolled: () => enrolment.isEnrolled(),
    async stop() {
      stopped = true
      await enrolment.stop()
      await heartbeat?.stop()
    },
  }
}
