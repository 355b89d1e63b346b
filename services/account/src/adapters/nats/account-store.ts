import { accountKey, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { JetStreamApiError } from '@nats-io/jetstream'
import type { KV, KvEntry } from '@nats-io/kv'
import type { KeyObject } from 'node:crypto'
import { toBusError } from '@krbfleet/bus'
import { createKeyCheck, decryptAtRest, encryptAtRest, verifyKeyCheck } from '@krbfleet/sealing'
import { type AccountRecord, AccountRecordCodec } from '../../domain/record.ts'
import type { AccountStore, SecretBox, StoredRecord } from '../../ports.ts'

/** KV key of the value that proves the key-encryption key is the one the records were sealed with. */
export const KEK_CHECK_KEY = 'kek-check'

/** JetStream's "wrong last sequence" (10071): the compare-and-set lost a race. */
function isStale(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === 10071
}

function live(entry: KvEntry | null): entry is KvEntry {
  return entry !== null && entry.operation === 'PUT'
}

/**
 * Account records in `buckets.accounts`. Every write is a compare-and-set on the revision
 * (STYLE rule 5): two replicas racing on one account cannot both win.
 */
export class KvAccountStore implements AccountStore {
  readonly #kv: KV
  constructor(kv: KV) {
    this.#kv = kv
  }

  async get(account: string): Promise<StoredRecord | null> {
    const entry = await this.#call('read', account, () => this.#kv.get(accountKey(account)))
    if (!live(entry)) return null
    return { record: AccountRecordCodec.decode(entry.json()), revision: entry.revision }
  }

  async create(record: AccountRecord): Promise<number> {
    return await this.#call('create', record.account, () =>
      this.#kv.create(accountKey(record.account), JSON.stringify(AccountRecordCodec.decode(record))),
    )
  }

  async update(record: AccountRecord, revision: number): Promise<number> {
    return await this.#call('update', record.account, () =>
      this.#kv.update(
        accountKey(record.account),
        JSON.stringify(AccountRecordCodec.decode(record)),
        revision,
      ),
    )
  }

  /** Purge, not delete: the history of sealed secrets goes with the record. */
  async delete(account: string): Promise<void> {
    await this.#call('delete', account, () => this.#kv.purge(accountKey(account)))
  }

  async list(onUnreadable?: (key: string, err: unknown) => void): Promise<AccountRecord[]> {
    const keys: string[] = []
    const iterator = await this.#call('list', '*', () => this.#kv.keys())
    for await (const key of iterator) if (key !== KEK_CHECK_KEY) keys.push(key)
    const records: AccountRecord[] = []
    for (const key of keys.sort()) {
      const entry = await this.#call('read', key, () => this.#kv.get(key))
      if (!live(entry)) continue
      try {
        records.push(AccountRecordCodec.decode(entry.json()))
      } catch (err) {
        onUnreadable?.(key, err)
      }
    }
    return records
  }

  async #call<T>(what: string, account: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (isStale(err) || (err instanceof Error && /wrong last sequence|key exists/i.test(err.message))) {
        throw new KrbfleetError(
          ErrorCode.Conflict,
          `account: the record of ${account} was changed by someone else meanwhile; try again`,
          { field: 'account', cause: err, retryable: true },
        )
      }
      throw toBusError(err, `accounts bucket ${what}`)
    }
  }
}

/**
 * Start-up check of the key-encryption key: the first start stores a check value made with it
 * (@krbfleet/sealing createKeyCheck); every later start must verify against that value, or it
 * stops: a wrong KEK would seal new secrets that nothing else can open, and fail on the stored ones.
 */
export async function verifyKeyEncryptionKey(
  kv: KV,
  kek: KeyObject,
  bucket: string,
  firstAttempt = true,
): Promise<'created' | 'verified'> {
  const entry = await kv.get(KEK_CHECK_KEY)
  if (!live(entry)) {
    try {
      await kv.create(KEK_CHECK_KEY, createKeyCheck(kek))
      return 'created'
    } catch (err) {
      // Another replica stored it first: check against theirs.
      if (!firstAttempt) throw toBusError(err, `${bucket} ${KEK_CHECK_KEY}`)
      return await verifyKeyEncryptionKey(kv, kek, bucket, false)
    }
  }
  try {
    verifyKeyCheck(kek, entry.string())
  } catch (err) {
    throw new KrbfleetError(
      ErrorCode.Invalid,
      `the key-encryption key is wrong: it does not match the check value stored under '${KEK_CHECK_KEY}' in KV bucket ${bucket} when the service first started, so the secrets sealed at rest cannot be opened with it (configure the key the service was set up with: KRBFLEET_ACCOUNT_KEK_FILE or KRBFLEET_KEK)`,
      { field: 'KRBFLEET_ACCOUNT_KEK_FILE', retryable: false, cause: err },
    )
  }
  return 'verified'
}

/** The current secret sealed at rest with the KEK; the account id is the AAD (RFC 5116). */
export class KekSecretBox implements SecretBox {
  readonly #kek: KeyObject
  constructor(kek: KeyObject) {
    this.#kek = kek
  }
  seal(account: string, password: string): string {
    return encryptAtRest(password, this.#kek, aadOf(account))
  }
  open(account: string, sealed: string): string {
    const plain = decryptAtRest(sealed, this.#kek, aadOf(account))
    const text = plain.toString('utf8')
    plain.fill(0)
    return text
  }
}

/** What a sealed secret is bound to: a value copied to another account's record does not open. */
export function aadOf(account: string): string {
  return `accounts/${accountKey(account)}/secret`
}
