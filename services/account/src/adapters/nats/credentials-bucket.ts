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
 *
 * `list()` answers from a copy of the bucket kept by a watch (its last values, then every change,
 * another replica's included) and by this process's own writes, each by its revision: a credential
 * run (several per rotation) no longer reads every server's key. Until the watch has delivered the
 * bucket as it was when it started, and whenever it stops, `list()` reads the bucket itself.
 */
const READS_IN_FLIGHT = 256

interface Held {
  revision: number
  /** Undefined: deleted, or an entry that does not decode (it will be issued again). */
  credential?: IssuedCredential
}

export class KvCredentialBucket implements CredentialBucket {
  readonly #kv: KV
  readonly #bus: Pick<Bus, 'nc'>
  readonly #log: Logger
  /** The bucket's keys as the watch and our own writes left them; trusted once `#current`. */
  readonly #held = new Map<string, Held>()
  #current = false
  #watch: Awaited<ReturnType<KV['watch']>> | undefined
  #starting: Promise<void> | undefined
  #closed = false
  constructor(kv: KV, bus: Pick<Bus, 'nc'>, logger: Logger) {
    this.#kv = kv
    this.#bus = bus
    this.#log = logger
  }

  /** Whether `list()` answers from the watched copy now (else it reads the bucket). */
  get watched(): boolean {
    return this.#current
  }

  /** Rings with the put's stream sequence: an agent that reads an older one (a replica behind) reads again. */
  #ring(server: string, revision?: number): void {
    try {
      this.#bus.nc.publish(subjects.agentCredential(server), revision === undefined ? '' : String(revision))
    } catch (err) {
      this.#log.warn({ err, server }, 'credential bell not rung; the agent reads its key at its next refresh')
    }
  }

  /** Keeps what is newer than what is known of the key. */
  #learn(key: string, held: Held): void {
    const known = this.#held.get(key)
    if (!known || held.revision > known.revision) this.#held.set(key, held)
  }

  #decode(key: string, value: { json(): unknown }): IssuedCredential | undefined {
    try {
      return IssuedCredential.decode(value.json())
    } catch (err) {
      this.#log.error({ key, err }, 'a credential entry does not decode; it will be issued again')
      return undefined
    }
  }

  /** Starts the watch unless it runs (callers at once share one start). */
  #follow(): Promise<void> {
    this.#starting ??= this.#startWatch().finally(() => {
      this.#starting = undefined
    })
    return this.#starting
  }

  /** `#current` once the watch delivered the bucket's last revision at its start. */
  async #startWatch(): Promise<void> {
    if (this.#watch || this.#closed) return
    const { streamInfo } = await this.#kv.status()
    const startedAt = streamInfo.state.messages === 0 ? 0 : streamInfo.state.last_seq
    const watch = await this.#kv.watch()
    this.#watch = watch
    if (startedAt === 0) this.#current = true
    void (async () => {
      for await (const entry of watch) {
        this.#learn(entry.key, {
          revision: entry.revision,
          ...(entry.operation === 'PUT' ? { credential: this.#decode(entry.key, entry) } : {}),
        })
        if (entry.revision >= startedAt) this.#current = true
      }
    })()
      .catch((err) => this.#log.warn({ err }, 'the credentials watch ended; reading the bucket instead'))
      .finally(() => {
        if (this.#watch === watch) {
          this.#watch = undefined
          this.#current = false
          this.#held.clear()
        }
      })
  }

  /** Every server's credential: from the watched copy when current, else the keys listed and read. */
  async list(): Promise<Map<string, IssuedCredential>> {
    await this.#follow().catch((err) =>
      this.#log.warn({ err }, 'the credentials bucket is not watched; reading it instead'),
    )
    const out = new Map<string, IssuedCredential>()
    if (this.#current) {
      for (const { credential } of this.#held.values()) if (credential) out.set(credential.server, credential)
      return out
    }
    const keys: string[] = []
    for await (const key of await this.#kv.keys()) keys.push(key)
    for (let i = 0; i < keys.length; i += READS_IN_FLIGHT) {
      const batch = keys.slice(i, i + READS_IN_FLIGHT)
      const entries = await Promise.all(batch.map((key) => this.#kv.get(key)))
      entries.forEach((entry, j) => {
        if (entry?.operation !== 'PUT') return
        const credential = this.#decode(batch[j] ?? '', entry)
        if (credential) out.set(credential.server, credential)
      })
    }
    return out
  }

  async put(credential: IssuedCredential): Promise<void> {
    const key = agentToken(credential.server)
    let revision: number
    try {
      revision = await this.#kv.put(key, JSON.stringify(credential))
    } catch (err) {
      // Written or not: the next run must not take it as held.
      this.#held.delete(key)
      throw err
    }
    this.#learn(key, { revision, credential })
    this.#ring(credential.server, revision)
  }

  async delete(server: string): Promise<void> {
    const key = agentToken(server)
    await this.#kv.delete(key)
    // Not held any more; a put older than what was known stays ignored, and the watch brings the
    // delete's own revision (and any put after it).
    this.#held.set(key, { revision: this.#held.get(key)?.revision ?? 0 })
    this.#ring(server)
  }

  /** Stops the watch (the service's stop). */
  close(): void {
    this.#closed = true
    this.#watch?.stop()
  }
}
