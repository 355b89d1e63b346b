import type { KV } from '@krbfleet/bus'
import { agentToken, IssuedCredential } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import type { CredentialBucket } from '../../ports.ts'

/** The credentials bucket (`buckets.credentials`): one key per server, `agentToken(server)`. */
export class KvCredentialBucket implements CredentialBucket {
  readonly #kv: KV
  readonly #log: Logger
  constructor(kv: KV, logger: Logger) {
    this.#kv = kv
    this.#log = logger
  }

  async list(): Promise<Map<string, IssuedCredential>> {
    const out = new Map<string, IssuedCredential>()
    for await (const key of await this.#kv.keys()) {
      const entry = await this.#kv.get(key)
      if (entry?.operation !== 'PUT') continue
      try {
        const credential = IssuedCredential.decode(entry.json())
        out.set(credential.server, credential)
      } catch (err) {
        this.#log.error({ key, err }, 'a credential entry does not decode; it will be issued again')
      }
    }
    return out
  }

  async put(credential: IssuedCredential): Promise<void> {
    await this.#kv.put(agentToken(credential.server), JSON.stringify(credential))
  }

  async delete(server: string): Promise<void> {
    await this.#kv.delete(agentToken(server))
  }
}
