import type { EventEnvelope, TopologyRevision } from '@krbfleet/contracts'
import type { OwnershipRecord } from './domain/index.ts'

/**
 * What the reconciler needs from the world, one small interface per adapter (STYLE rule 3). The
 * real implementations are in adapters/nats and adapters/ldap; the reconciler never imports NATS or
 * LDAP itself.
 */

/** The enabled topology, as the topology service publishes it in KV. */
export interface TopologyReader {
  /** The enabled revision, or null when no revision was ever enabled. */
  enabled(): Promise<TopologyRevision | null>
  /** One published revision, or null when it is not (or no longer) stored. */
  revision(number: number): Promise<TopologyRevision | null>
}

export interface StoredOwnership {
  record: OwnershipRecord
  /** KV revision of the entry, for compare-and-set. */
  version: number
}

/** The ownership records, written with compare-and-set so two replicas never both win. */
export interface OwnershipStore {
  read(account: string): Promise<StoredOwnership | null>
  /**
   * Writes the record if the entry is still at `expectedVersion` (null: must not exist yet) and
   * returns the new version; a stale version throws a retryable conflict.
   */
  write(account: string, record: OwnershipRecord, expectedVersion: number | null): Promise<number>
  /** Every account with a record. */
  accounts(): Promise<string[]>
  /** Drops the record of an account that no longer exists (KerberosAccountRemoved). */
  remove(account: string): Promise<void>
}

/** A held reconcile lease of one account (see domain/lease.ts). */
export interface HeldLease {
  readonly account: string
  /** True while this replica may still count on the lease (renewed, not taken over). */
  held(): boolean
  /** Throws a retryable conflict when the lease was lost; called before every write. */
  assertHeld(): void
  /**
   * Stops renewing and gives the lease up (only if still ours: a compare-and-set on the revision
   * it wrote); never throws. `forget` (the account was removed) purges the lease key and its
   * history instead of leaving a delete marker, but only while the lease is still held.
   */
  release(options?: { forget?: boolean }): Promise<void>
}

/**
 * Per-account leases shared by all replicas: two replicas never reconcile the same account at
 * the same time. `acquire` throws `AccountBusyError` (a retryable conflict) when another replica
 * holds a live lease.
 */
export interface AccountLeases {
  acquire(account: string): Promise<HeldLease>
}

/** A directory object that holds SPNs. */
export interface SpnHolderEntry {
  dn: string
  samAccountName: string | null
  /** The matching SPN as the object stores it. */
  spn: string
}

export interface AccountEntry {
  dn: string
  samAccountName: string
  servicePrincipalNames: string[]
}

/** Active Directory as spn-sync sees it: accounts and their servicePrincipalName values. */
export interface SpnDirectory {
  /** The computer account with this sAMAccountName (`KERBAUTH$`), or null. */
  findAccount(samAccountName: string): Promise<AccountEntry | null>
  /**
   * For each of `spns` (the key is the string passed), every object holding it or an alias of it
   * (HOST/x for HTTP/x, per the forest's sPNMappings), compared case-insensitively.
   */
  findHolders(spns: string[]): Promise<Map<string, SpnHolderEntry[]>>
  /** One LDAP modify: add and delete value lists of servicePrincipalName together. */
  writeSpns(dn: string, change: { add: string[]; remove: string[] }): Promise<void>
  /** Every (object, SPN) pair of the directory, for setspn -X. */
  allHolders(): Promise<SpnHolderEntry[]>
}

export interface EventSink {
  publish(envelope: EventEnvelope): Promise<void>
}

/** Points where a test makes the process die (see README, "fault injection"). */
export type Failpoint = 'after-intent' | 'after-modify'
