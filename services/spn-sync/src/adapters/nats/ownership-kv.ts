import { accountKey, buckets, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { type Bus, type KV, toBusError } from '@krbfleet/bus'
import { type OwnershipRecord, ownershipRecordCodec } from '../../domain/index.ts'
import type { OwnershipStore } from '../../ports.ts'
import { isCasFailure } from './kv-cas.ts'
import { LEASE_KEY_PREFIX } from './lease-kv.ts'

/**
 * Ownership records in `buckets.spnOwnership`, one key per account (`CORP.KERBAUTH`). Every write is
 * a compare-and-set (`create` for a new key, `update` at the revision read): two replicas
 * reconciling the same account cannot both record an intent (STYLE rule 5).
 */
export function ownershipFromKv(kv: KV, jsm: Bus['jsm']): OwnershipStore {
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
        if (!isCasFailure(err)) throw toBusError(err, `write of the SPN ownership record of ${account}`)
        // A stale revision (10071) or an existing key: another writer was first. Retry from fresh state.
        throw new KrbfleetError(
          ErrorCode.Conflict,
          `the SPN ownership record of ${account} changed while it was being reconciled`,
          { cause: err, retryable: true },
        )
      }
    },
    async accounts() {
      // One stream-info request listing the bucket's subjects, rather than kv.keys(): its ordered
      // consumer has been seen to stall in several NATS clients, and the periodic resync must not.
      const prefix = `$KV.${buckets.spnOwnership.bucket}.`
      const info = await jsm.streams.info(`KV_${buckets.spnOwnership.bucket}`, {
        subjects_filter: `${prefix}>`,
      })
      const keys = Object.keys(info.state.subjects ?? {})
        .map((subject) => subject.slice(prefix.length))
        .filter((key) => !key.startsWith(LEASE_KEY_PREFIX))
      // A removed account's key keeps its purge marker: only keys holding a record count.
      const live: string[] = []
      for (const key of keys) {
        const entry = await kv.get(key)
        if (entry !== null && entry.operation === 'PUT' && entry.length > 0) live.push(key.replace('.', '\\'))
      }
      return live.sort()
    },
    async remove(account) {
      // purge, not delete: the record's history goes too, and the key leaves the listing above.
      await kv.purge(accountKey(account)).catch((err: unknown) => {
        throw toBusError(err, `removal of the SPN ownership record of ${account}`)
      })
    },
  }
}
