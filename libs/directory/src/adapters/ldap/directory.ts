import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Change } from 'ldapts'
import type { Filter } from '../../domain/filter.ts'
import type { SpnMappings } from '../../domain/spn.ts'
import { type ConnectDirectoryOptions, planConnection } from './connect-options.ts'
import { LdapConnection } from './connection.ts'
import type { DirectoryEntry, RootDse } from './entry.ts'
import { readKvno } from './kvno.ts'
import { setPassword } from './passwords.ts'
import { exists, findOne, read, readRootDse, readValues, type SearchOptions, search } from './reads.ts'
import {
  findSpnHolders,
  getSpns,
  modifySpns,
  readSpnMappings,
  type SpnHolder,
  type SpnScope,
} from './spns.ts'
import { type AttributeChange, type AttributeValue, addEntry, deleteEntry, modifyEntry } from './writes.ts'

// The Directory that the services use, composed of the rooms next to this file: connect-options
// (checks, pinned CA), connection (sessions, StartTLS, reconnect, refusal of password writes in
// clear), entry (decoding), reads, writes, passwords, kvno and spns (the AD operations).

export interface Directory {
  /** The URL connected to. */
  readonly url: string
  /** True for LDAPS and StartTLS; password writes happen only then. */
  readonly encrypted: boolean
  /** The domain's naming context (defaultNamingContext of the root DSE), e.g. DC=corp,DC=example,DC=com. */
  readonly baseDn: string
  rootDse(): Promise<RootDse>
  search(base: string, filter: Filter, options?: SearchOptions): Promise<DirectoryEntry[]>
  /** The one entry that matches, undefined when none; `conflict` when several match. */
  findOne(
    base: string,
    filter: Filter,
    options?: Omit<SearchOptions, 'sizeLimit'>,
  ): Promise<DirectoryEntry | undefined>
  /** The entry at `dn` (scope base), undefined when it does not exist. */
  read(dn: string, attributes?: string[]): Promise<DirectoryEntry | undefined>
  add(dn: string, attributes: Record<string, AttributeValue | AttributeValue[]>): Promise<void>
  modify(dn: string, changes: Change | AttributeChange | Array<Change | AttributeChange>): Promise<void>
  delete(dn: string): Promise<void>
  exists(dn: string): Promise<boolean>
  /** Resets the password (unicodePwd replace); refused with insecure_connection unless encrypted. */
  setPassword(dn: string, password: string): Promise<void>
  /** msDS-KeyVersionNumber, the kvno of the account's current keys. */
  readKvno(dn: string): Promise<number>
  /** For each SPN, every account that holds it or an alias of it (HOST/ for HTTP/), searched case-insensitively. */
  findSpnHolders(spns: readonly string[], options?: { base?: string }): Promise<Map<string, SpnHolder[]>>
  getSpns(dn: string): Promise<string[]>
  /**
   * Every value of a multi-valued attribute, following AD's range retrieval when the DC slices it
   * (more than MaxValRange, 1500, values). `rangeSize` asks for slices of that size from the start.
   */
  readValues(dn: string, attribute: string, options?: { rangeSize?: number }): Promise<string[]>
  /** Adds and removes SPNs of one account in ONE modify (atomic on the DC). */
  modifySpns(dn: string, change: { add?: readonly string[]; remove?: readonly string[] }): Promise<void>
  /** Unbinds; further calls fail. */
  close(): Promise<void>
}

/**
 * Connects (LDAPS, or ldap:// + StartTLS), binds, and reads the root DSE. A lost connection is
 * noticed by the next call, which opens a new one; a call that was in flight fails `unavailable`.
 */
export async function connectDirectory(options: ConnectDirectoryOptions): Promise<Directory> {
  const connection = new LdapConnection(await planConnection(options), options.logger, options.observe)
  const rootDse = await readRootDse(connection)
  if (!rootDse.defaultNamingContext) {
    await connection.close()
    throw new KrbfleetError(ErrorCode.Internal, `the DC at ${options.url} publishes no defaultNamingContext`)
  }
  return new LdapDirectory(connection, rootDse)
}

class LdapDirectory implements Directory {
  readonly url: string
  readonly encrypted: boolean
  readonly baseDn: string
  readonly #connection: LdapConnection
  readonly #spns: SpnScope
  #rootDse: RootDse
  #spnMappings: SpnMappings | undefined

  constructor(connection: LdapConnection, rootDse: RootDse) {
    this.#connection = connection
    this.url = connection.url
    this.encrypted = connection.encrypted
    this.baseDn = rootDse.defaultNamingContext
    this.#rootDse = rootDse
    this.#spns = { connection, baseDn: this.baseDn, mappings: () => this.#mappings() }
  }

  async rootDse(): Promise<RootDse> {
    this.#rootDse = await readRootDse(this.#connection)
    return this.#rootDse
  }

  async search(base: string, f: Filter, options?: SearchOptions): Promise<DirectoryEntry[]> {
    return await search(this.#connection, base, f, options)
  }

  async findOne(
    base: string,
    f: Filter,
    options?: Omit<SearchOptions, 'sizeLimit'>,
  ): Promise<DirectoryEntry | undefined> {
    return await findOne(this.#connection, base, f, options)
  }

  async read(dn: string, attributes?: string[]): Promise<DirectoryEntry | undefined> {
    return await read(this.#connection, dn, attributes)
  }

  async exists(dn: string): Promise<boolean> {
    return await exists(this.#connection, dn)
  }

  async readValues(dn: string, attribute: string, options?: { rangeSize?: number }): Promise<string[]> {
    return await readValues(this.#connection, dn, attribute, options)
  }

  async add(dn: string, attributes: Record<string, AttributeValue | AttributeValue[]>): Promise<void> {
    await addEntry(this.#connection, dn, attributes)
  }

  async modify(
    dn: string,
    changes: Change | AttributeChange | Array<Change | AttributeChange>,
  ): Promise<void> {
    await modifyEntry(this.#connection, dn, changes)
  }

  async delete(dn: string): Promise<void> {
    await deleteEntry(this.#connection, dn)
  }

  async setPassword(dn: string, password: string): Promise<void> {
    await setPassword(this.#connection, dn, password)
  }

  async readKvno(dn: string): Promise<number> {
    return await readKvno(this.#connection, dn)
  }

  async getSpns(dn: string): Promise<string[]> {
    return await getSpns(this.#connection, dn)
  }

  async findSpnHolders(
    spns: readonly string[],
    options?: { base?: string },
  ): Promise<Map<string, SpnHolder[]>> {
    return await findSpnHolders(this.#spns, spns, options)
  }

  async modifySpns(
    dn: string,
    change: { add?: readonly string[]; remove?: readonly string[] },
  ): Promise<void> {
    await modifySpns(this.#spns, dn, change)
  }

  async close(): Promise<void> {
    await this.#connection.close()
  }

  /** Read on first use, from the configuration naming context of the last root DSE read. */
  async #mappings(): Promise<SpnMappings> {
    this.#spnMappings ??= await readSpnMappings(this.#connection, this.#rootDse.configurationNamingContext)
    return this.#spnMappings
  }
}
