import type { KV } from '@krbfleet/bus'
import { AgentStatus, agentToken } from '@krbfleet/contracts'
import type { KvEntry } from '@nats-io/kv'
import type { Logger } from 'pino'
import type { AgentStatusSource } from '../../ports.ts'

const live = (entry: KvEntry | null): entry is KvEntry => entry !== null && entry.operation === 'PUT'

/** The agents' last reports, as the topology service keeps them (`buckets.agents`). */
export class KvAgentStatuses implements AgentStatusSource {
  readonly #kv: KV
  readonly #log: Logger
  constructor(kv: KV, logger: Logger) {
    this.#kv = kv
    this.#log = logger
  }

  async statuses(
    servers: readonly string[],
    options: { strict?: boolean } = {},
  ): Promise<Map<string, AgentStatus>> {
    const out = new Map<string, AgentStatus>()
    // Bounded parallel reads: thousands of servers must not open thousands of requests at once.
    for (let i = 0; i < servers.length; i += 256) {
      const chunk = servers.slice(i, i + 256)
      const entries = await Promise.all(
        chunk.map((server) => {
          const read = this.#kv.get(agentToken(server))
          return options.strict ? read : read.catch(() => null)
        }),
      )
      chunk.forEach((server, j) => {
        const entry = entries[j]
        if (!live(entry ?? null)) return
        try {
          out.set(server, AgentStatus.decode(entry!.json()))
        } catch (err) {
          this.#log.warn({ err, server }, 'agent status does not decode; counted offline')
        }
      })
    }
    return out
  }
}
