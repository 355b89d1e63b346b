import type { AgentStatus, EventEnvelope, IssuedCredential, TopologyDocument } from '@krbfleet/contracts'
import type { DirectoryAccount } from './domain/account.ts'
import type { AccountRecord } from './domain/record.ts'
import type { RotationRecord } from './rotation/model.ts'

/**
 * What the account service needs from the outside world. The adapters implement these over
 * @krbfleet/directory (LDAP), JetStream KV and the bus; the service itself only sees the ports.
 */

/** One computer account as AD reports it; defined in domain/, whose decisions judge it. */
export type { DirectoryAccount }

export interface AccountDirectory {
  /** True when the connection is LDAPS or StartTLS: password writes are refused otherwise. */
  readonly encrypted: boolean
  /** Finds a computer (or any user) object by sAMAccountName anywhere under the base DN. */
  findAccount(samAccountName: string): Promise<DirectoryAccount | null>
  containerExists(dn: string): Promise<boolean>
  /** Every object whose description carries the krbfleet marker. */
  listMarked(): Promise<DirectoryAccount[]>
  /** One LDAP add with unicodePwd (MS-ADTS 3.1.1.3.1.5.1). */
  createAccount(dn: string, attributes: Record<string, string | string[]>, password: string): Promise<void>
  /** Replaces attributes of an existing object (adopt: the description marker, encryption types). */
  modifyAccount(dn: string, attributes: Record<string, string>): Promise<void>
  setPassword(dn: string, password: string): Promise<void>
  readKvno(dn: string): Promise<number | null>
  deleteAccount(dn: string): Promise<void>
  /** A cheap round trip for /readyz. */
  ping(): Promise<boolean>
}

export interface StoredRecord {
  record: AccountRecord
  revision: number
}

/** The accounts KV bucket (records keyed by accountKey). Writes are compare-and-set on the revision. */
export interface AccountStore {
  get(account: string): Promise<StoredRecord | null>
  /** Creates the record; fails with already_exists/conflict if a record appeared meanwhile. */
  create(record: AccountRecord): Promise<number>
  /** Replaces the record if it is still at `revision`; a conflict error otherwise. */
  update(record: AccountRecord, revision: number): Promise<number>
  delete(account: string): Promise<void>
  /**
   * Every record. One that does not decode is skipped and handed to `onUnreadable` (if given):
   * a single damaged record must not hide all the others from the sweep or the account list.
   */
  list(onUnreadable?: (key: string, err: unknown) => void): Promise<AccountRecord[]>
}

/** The current secret, sealed at rest with the key-encryption key (@krbfleet/sealing). */
export interface SecretBox {
  /** `account` is bound to the ciphertext (AAD): a sealed value moved to another record does not open. */
  seal(account: string, password: string): string
  open(account: string, sealed: string): string
}

export interface EventSink {
  publish(envelope: EventEnvelope): Promise<unknown>
}

/** The ENABLED topology's assignments (the topology service's bucket). */
export interface AssignmentSource {
  /** The sites the enabled revision assigns `account` (canonical `CORP\NAME`) to; [] when none or no revision. */
  sitesOf(account: string): Promise<string[]>
}

/** spn-sync's answer to `spn.desired`: null when it does not answer. */
export interface DesiredSpnSource {
  desiredSpns(account: string, actor: string): Promise<string[] | null>
}

/** The ENABLED topology document (servers, pools, assignments, enrolled agents); null before the first enable. */
export interface EnabledTopologySource {
  enabledTopology(): Promise<TopologyDocument | null>
}

/** The credentials bucket: the retained sealed credential of each server. */
export interface CredentialBucket {
  /** Every server's credential, by server FQDN. One that does not decode is left out (and reissued). */
  list(): Promise<Map<string, IssuedCredential>>
  put(credential: IssuedCredential): Promise<void>
  delete(server: string): Promise<void>
}

export interface StoredRotation {
  record: RotationRecord
  revision: number
}

/** The rotations bucket: one record per rotation, and the running rotation of each account. */
export interface RotationStore {
  /** Claims `account` for `rotationId`; null when claimed, else the id of the rotation running. */
  claim(account: string, rotationId: string): Promise<string | null>
  /** The rotation running for `account`, if any. */
  running(account: string): Promise<string | null>
  /** Ends the claim of `rotationId` (nothing when another rotation holds it). */
  release(account: string, rotationId: string): Promise<void>
  get(rotationId: string): Promise<StoredRotation | null>
  create(record: RotationRecord): Promise<number>
  /** Compare-and-set; a conflict error when another run wrote it meanwhile. */
  update(record: RotationRecord, revision: number): Promise<number>
  list(): Promise<StoredRotation[]>
}

/** The agents' last reports (the topology service's agents bucket). */
export interface AgentStatusSource {
  /**
   * The statuses of `servers` that exist. A status that cannot be read is left out (counted
   * offline), or with `strict` fails the whole call: silence must never be a read error.
   */
  statuses(servers: readonly string[], options?: { strict?: boolean }): Promise<Map<string, AgentStatus>>
}
