import { accountKey, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { KV } from '@krbfleet/bus'
import { type OwnershipRecord, ownershipRecordCodec } from '../../domain/index.ts'
import type { OwnershipStore } from '../../ports.ts'

/**
 * Ownership records in `buckets.spnOwnership`, one key per account (`CORP.KERBAUTH`). Every write is
 * a compare-and-set (`create` for a new key, `update` at the revision read): two replicas
 * reconciling the same account cannot both record an intent (STYLE rule 5).
 */
export function ownershipFromKv(kv: KV): OwnershipStore {
  return {
    async read(account) {
      const entry = await kv.get(accountKey(account))
      if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return null
      return { record: ownershipRecordCodec.decode(entry.json()), version: entry.revision }
    },
    async write(account, record: OwnershipRecord, expectedVersion) {
      const key = accountKey(account)
      const data = JSON.stringify(ownershipRecordCodec.decode(record))
      try {
        return expectedVersion === null
          ? await kv.create(key, data)
          : await kv.update(key, data, expectedVersion)
      } catch (err) {
        // A stale revision (10071) or an existing key: another writer was first. Retry from fresh state.
        throw new KrbfleetError(
          ErrorCode.Conflict,
          `the SPN ownership record of ${account} changed while it was being reconciled`,
          { cause: err, retryable: true },
        )
      }
    },
    async accounts() {
      const accounts: string[] = []
      for await (const key of await kv.keys()) accounts.push(key.replace('.', '\\'))
      return accounts.sort()
    },
  }
}
