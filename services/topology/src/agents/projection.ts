import { type Bus, consumeEvents, type EventConsumer, type KV } from '@krbfleet/bus'
import {
  AgentHeartbeat,
  AgentStatus,
  agentToken,
  CredentialApplied,
  CredentialApplyFailed,
  CredentialRemoved,
  CredentialStaged,
  ErrorCode,
  KrbfleetError,
  streams,
  subjects,
} from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { type AgentReport, evolveAgentStatus } from './status.ts'

/** The topology service's durable consumer of the agents' reports (replicas share it). */
export const agentStatusDurable = 'topology-agent-status'
/** Its durable consumer of the agents' heartbeats, on the heartbeats stream. */
export const agentHeartbeatDurable = 'topology-agent-heartbeats'

type Known = { status: AgentStatus | null; revision: number }

/** The agents bucket: one AgentStatus per server (`agentToken(server)`). */
export class AgentStatusStore {
  readonly #kv: KV
  /**
   * Each server's status as this store last read or wrote it, with its revision: the next report
   * evolves it without reading the bucket again (two fewer messages per report). The write's
   * compare-and-set still decides: if another replica wrote since, the value is read again.
   */
  readonly #known = new Map<string, Known>()
  constructor(kv: KV) {
    this.#kv = kv
  }

  async get(server: string): Promise<AgentStatus | null> {
    return (await this.#read(server)).status
  }

  /** The statuses of `servers`, in their order, read 256 at a time (a fleet's list is thousands). */
  async getMany(servers: readonly string[]): Promise<Array<AgentStatus | null>> {
    const statuses: Array<AgentStatus | null> = []
    for (let i = 0; i < servers.length; i += 256) {
      statuses.push(...(await Promise.all(servers.slice(i, i + 256).map((server) => this.get(server)))))
    }
    return statuses
  }

  /** Applies one report with compare-and-set; a concurrent write makes it read and try again. */
  async apply(server: string, report: AgentReport): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { status, revision } = this.#known.get(server) ?? (await this.#read(server))
      const next = evolveAgentStatus(server, status, report)
      const value = JSON.stringify(next)
      if (value === JSON.stringify(status)) {
        this.#known.set(server, { status, revision })
        return
      }
      try {
        const written =
          revision === 0
            ? await this.#kv.create(agentToken(server), value)
            : await this.#kv.update(agentToken(server), value, revision)
        this.#known.set(server, { status: next, revision: written })
        return
      } catch (err) {
        this.#known.delete(server)
        if (attempt >= 5) {
          throw new KrbfleetError(ErrorCode.Conflict, `agent status of ${server}: written concurrently`, {
            cause: err,
          })
        }
      }
    }
  }

  async #read(server: string): Promise<{ status: AgentStatus | null; revision: number }> {
    const entry = await this.#kv.get(agentToken(server))
    if (entry?.operation !== 'PUT') return { status: null, revision: entry?.revision ?? 0 }
    return { status: AgentStatus.decode(entry.json()), revision: entry.revision }
  }
}

/**
 * Keeps each agent's status from its reports (`krbfleet.events.agent.>`) and its heartbeats (the
 * heartbeats stream, `krbfleet.heartbeats.>`): two durable consumers. The server is the subject's
 * (libs/bus consumeEvents refuses an event whose data names another server than its subject, and
 * each agent may publish only on its own), so one agent cannot write another's status. Acks are
 * not confirmed (every agent reports twice per rotation and beats every interval): an event
 * redelivered after a lost ack changes nothing (the latest report wins).
 */
export function startAgentStatusProjection(options: {
  bus: Bus
  store: AgentStatusStore
  logger: Logger
}): EventConsumer {
  const logger = options.logger.child({ component: 'agent-status' })
  const handle = async (event: AgentEvent) => {
    const report = reportOf(event)
    if (report) await options.store.apply(event.data.server, report)
  }
  const consumers = [
    consumeEvents(options.bus, {
      durable: agentStatusDurable,
      filterSubject: subjects.domainEvents('agent'),
      events: [CredentialStaged, CredentialApplied, CredentialApplyFailed, CredentialRemoved],
      logger,
      handle,
      confirmAcks: false,
    }),
    consumeEvents(options.bus, {
      durable: agentHeartbeatDurable,
      stream: streams.heartbeats.name,
      filterSubject: subjects.allHeartbeats,
      events: [AgentHeartbeat],
      logger,
      handle,
      confirmAcks: false,
    }),
  ]
  return {
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()))
    },
    done: Promise.all(consumers.map((c) => c.done)).then(() => undefined),
  }
}

type AgentEvent = ReturnType<
  (
    | typeof AgentHeartbeat
    | typeof CredentialStaged
    | typeof CredentialApplied
    | typeof CredentialApplyFailed
    | typeof CredentialRemoved
  )['decode']
>

function reportOf(event: AgentEvent): AgentReport | null {
  const at = event.occurredAt
  if (AgentHeartbeat.is(event)) return { kind: 'heartbeat', at, ...withoutServer(event.data) }
  if (CredentialStaged.is(event)) return { kind: 'staged', at, ...withoutServer(event.data) }
  if (CredentialApplied.is(event)) return { kind: 'applied', at, ...withoutServer(event.data) }
  if (CredentialApplyFailed.is(event)) return { kind: 'failed', at, ...withoutServer(event.data) }
  if (CredentialRemoved.is(event)) return { kind: 'removed', at, ...withoutServer(event.data) }
  return null
}

function withoutServer<T extends { server: string }>(data: T): Omit<T, 'server'> {
  const { server: _server, ...rest } = data
  return rest
}
