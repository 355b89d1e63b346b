import { sleep, toBusError, type KV } from '@krbfleet/bus'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { JetStreamApiError } from '@nats-io/jetstream'
import type { KvEntry } from '@nats-io/kv'
import { type RotationRecord, rotationKey, runningKey } from '../../rotation/model.ts'
import { pack, unpack } from './rotation-packing.ts'
import type { RotationStore, StoredRotation } from '../../ports.ts'

/** JetStream's "wrong last sequence" (10071): a compare-and-set lost a race. */
const isStale = (err: unknown) => err instanceof JetStreamApiError && err.code === 10071
/** Attempts of a claim refused while no claim is there (a replica behind, see claim()). */
const claimAttempts = 5
const live = (entry: KvEntry | null): entry is KvEntry => entry !== null && entry.operation === 'PUT'

/**
 * The rotations bucket (`buckets.rotations`): `rotation.<id>` per rotation and `running.<account>`
 * naming the one in progress of an account. Writes are compare-and-set on the revision.
 */
export class KvRotationStore implements RotationStore {
  readonly #kv: KV
  constructor(kv: KV) {
    this.#kv = kv
  }

  async claim(account: string, rotationId: string): Promise<string | null> {
    const key = runningKey(account)
    for (let attempt = 1; ; attempt++) {
      try {
        // create() also takes a key whose last entry is a delete (a rotation that ended).
        await this.#kv.create(key, JSON.stringify({ rotationId }))
        return null
      } catch (err) {
        const entry = await this.#kv.get(key).catch(() => null)
        if (live(entry)) return (entry.json() as { rotationId: string }).rotationId
        // Refused, yet no claim is there: create() read the ended claim's delete from a replica of
        // the R3 bucket that was behind ("wrong last sequence"); it catches up in moments.
        if (attempt >= claimAttempts) throw toBusError(err, 'claim the rotation of the account')
        await sleep(100 * attempt)
      }
    }
  }

  async running(account: string): Promise<string | null> {
    const entry = await this.#kv.get(runningKey(account))
    return live(entry) ? (entry.json() as { rotationId: string }).rotationId : null
  }

  async release(account: string, rotationId: string): Promise<void> {
    const entry = await this.#kv.get(runningKey(account))
    if (!live(entry) || (entry.json() as { rotationId: string }).rotationId !== rotationId) return
    await this.#kv.delete(runningKey(account), { previousSeq: entry.revision }).catch((err) => {
      if (!isStale(err)) throw toBusError(err, 'release the rotation of the account')
    })
  }

  async get(rotationId: string): Promise<StoredRotation | null> {
    const entry = await this.#kv.get(rotationKey(rotationId))
    if (!live(entry)) return null
    return { record: unpack(entry.json()), revision: entry.revision }
  }

  async create(record: RotationRecord): Promise<number> {
    return await this.#kv.create(rotationKey(record.rotationId), pack(record))
  }

  async update(record: RotationRecord, revision: number): Promise<number> {
    try {
      return await this.#kv.update(rotationKey(record.rotationId), pack(record), revision)
    } catch (err) {
      if (isStale(err)) {
        throw new KrbfleetError(
          ErrorCode.Conflict,
          `rotation ${record.rotationId} was updated by another run meanwhile`,
          { retryable: true },
        )
      }
      throw toBusError(err, 'write the rotation')
    }
  }

  async list(): Promise<StoredRotation[]> {
    const keys: string[] = []
    for await (const key of await this.#kv.keys('rotation.>')) keys.push(key)
    const out: StoredRotation[] = []
    for (const key of keys) {
      const entry = await this.#kv.get(key)
      if (!live(entry)) continue
      try {
        out.push({ record: unpack(entry.json()), revision: entry.revision })
      } catch {
        // A record this version cannot read is left alone (and not resumed).
      }
    }
    return out
  }
}
