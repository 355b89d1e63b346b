import type { Bus, KV } from '@krbfleet/bus'
import { agentToken, IssuedCredential, subjects } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import type { CredentialBucket } from '../../ports.ts'

/**
 * The credentials bucket (`buckets.credentials`): one key per server, `agentToken(server)`. After
 * each put or delete the server's credential bell rings (a core message holding the put's stream
 * sequence, empty for a delete): its agent reads the key then, and again if a replica of the bucket
 * answered with an older message. A bell lost (the service stopped in between, the agent away)
 * costs only time: agents also read their key at start, on reconnect and periodically.
 */
const READS_IN_FLIGHT = 256

export class KvCredentialBucket implements CredentialBucket {
  readonly #kv: KV
  readonly #bus: Pick<Bus, 'nc'>
  readonly #log: Logger
  constructor(kv: KV, bus: Pick<Bus, 'nc'>, logger: Logger) {
    this.#kv = kv
    this.#bus = bus
    this.#log = logger
  }

  /** Rings with the put's stream sequence: an agent that reads an older one (a replica behind) reads again. */
  #ring(server: string, revision?: number): void {
    try {
      this.#bus.nc.publish(subjects.agentCredential(server), revision === undefined ? '' : String(revision))
    } catch (err) {
      this.#log.warn({ err, server }, 'credential bell not rung; the agent reads its key at its next refresh')
    }
  }

  /** Every server's credential: the keys listed, then read {@link READS_IN_FLIGHT} at a time. */
  async list(): Promise<Map<string, IssuedCredential>> {
    const keys: string[] = []
    for await (const key of await this.#kv.keys()) keys.push(key)
    const out = new Map<string, IssuedCredential>()
    for (let i = 0; i < keys.length; i += READS_IN_FLIGHT) {
      const batch = keys.slice(i, i + READS_IN_FLIGHT)
      const entries = await Promise.all(batch.map((key) => this.#kv.get(key)))
      entries.forEach((entry, j) => {
        if (entry?.operation !== 'PUT') return
        try {
          const credential = IssuedCredential.decode(entry.json())
          out.set(credential.server, credential)
        } catch (err) {
          this.#log.error(
            { key: batch[j], err },
            'a credential entry does not decode; it will be issued again',
          )
        }
      })
    }
    return out
  }

  async put(credential: IssuedCredential): Promise<void> {
    const revision = await this.#kv.put(agentToken(credential.server), JSON.stringify(credential))
    this.#ring(credential.server, revision)
  }

  async delete(server: string): Promise<void> {
    await this.#kv.delete(agentToken(server))
    this.#ring(server)
  }
}
