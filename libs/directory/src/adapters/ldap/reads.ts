import { ErrorCode, KrbfleetError, ValidationError } from '@krbfleet/contracts'
import { parseDn } from '../../domain/dn.ts'
import { checkAttributeName, type Filter, filter } from '../../domain/filter.ts'
import type { LdapConnection } from './connection.ts'
import { type DirectoryEntry, decodeRootDse, type RootDse, rootDseAttributes, toEntry } from './entry.ts'
import { toLdaptsFilter } from './filter.ts'

// Searches and reads of entries. Every value a caller gives is checked (DNs parsed, attribute
// names checked, filters built from structure), so nothing from outside becomes LDAP syntax.

export interface SearchOptions {
  /** Default `sub`. */
  scope?: 'base' | 'one' | 'sub'
  /** Attributes to return; constructed ones (msDS-KeyVersionNumber) must be named. */
  attributes?: string[]
  /** At most this many entries (the DC may cap lower); more are dropped without error. */
  sizeLimit?: number
  /** Page the search (RFC 2696) so it can return more than the DC's MaxPageSize. */
  paged?: boolean | { pageSize: number }
  /** Attributes to return as bytes (objectGUID, objectSid). */
  binaryAttributes?: string[]
}

export async function readRootDse(connection: LdapConnection): Promise<RootDse> {
  const result = await connection.run('read root DSE', undefined, (c) =>
    c.search('', { scope: 'base', filter: toLdaptsFilter(filter.any()), attributes: rootDseAttributes }),
  )
  const raw = result.searchEntries[0]
  if (!raw) throw new KrbfleetError(ErrorCode.Unavailable, `the DC at ${connection.url} returned no root DSE`)
  return decodeRootDse(toEntry(raw))
}

export async function search(
  connection: LdapConnection,
  base: string,
  f: Filter,
  options: SearchOptions = {},
): Promise<DirectoryEntry[]> {
  const entries = await searchSlices(connection, base, f, options)
  // AD sends attributes with more than MaxValRange (1500) values in slices (MS-ADTS
  // 3.1.1.3.1.3.3): fetch the rest so that callers always see every value.
  // A slice the caller asked for by name stays as asked.
  const asked = new Set(
    (options.attributes ?? []).filter((a) => /;range=/i.test(a)).map((a) => a.split(';')[0]?.toLowerCase()),
  )
  for (const entry of entries) {
    for (const name of entry.slicedNames()) {
      if (!asked.has(name.toLowerCase())) {
        entry.completeSliced(name, await readValues(connection, entry.dn, name))
      }
    }
  }
  return entries
}

/** A search whose ranged attributes stay as the DC sliced them. */
async function searchSlices(
  connection: LdapConnection,
  base: string,
  f: Filter,
  options: SearchOptions,
): Promise<DirectoryEntry[]> {
  parseDn(base, 'base')
  const attributes = options.attributes?.map((a, i) => checkAttributeName(a, `attributes.${i}`))
  const binary = options.binaryAttributes?.map((a, i) => checkAttributeName(a, `binaryAttributes.${i}`))
  if (options.sizeLimit !== undefined && !(Number.isInteger(options.sizeLimit) && options.sizeLimit >= 0)) {
    throw new ValidationError([{ field: 'sizeLimit', rule: 'must be a non-negative integer' }], 'search')
  }
  const ldapFilter = toLdaptsFilter(f)
  const result = await connection.run('search', base, (c) =>
    c.search(base, {
      scope: options.scope ?? 'sub',
      filter: ldapFilter,
      ...(attributes ? { attributes } : {}),
      ...(binary ? { explicitBufferAttributes: binary } : {}),
      ...(options.sizeLimit !== undefined ? { sizeLimit: options.sizeLimit } : {}),
      ...(options.paged !== undefined ? { paged: options.paged } : {}),
    }),
  )
  return result.searchEntries.map(toEntry)
}

/** The one entry that matches, undefined when none; `conflict` when several match. */
export async function findOne(
  connection: LdapConnection,
  base: string,
  f: Filter,
  options: Omit<SearchOptions, 'sizeLimit'> = {},
): Promise<DirectoryEntry | undefined> {
  const entries = await search(connection, base, f, { ...options, sizeLimit: 2 })
  if (entries.length > 1) {
    throw new KrbfleetError(ErrorCode.Conflict, `more than one entry under ${base} matches the search`, {
      details: { base, dns: entries.map((e) => e.dn) },
    })
  }
  return entries[0]
}

/** The entry at `dn` (scope base), undefined when it does not exist. */
export async function read(
  connection: LdapConnection,
  dn: string,
  attributes?: string[],
): Promise<DirectoryEntry | undefined> {
  return await readEntry(connection, dn, attributes, true)
}

async function readEntry(
  connection: LdapConnection,
  dn: string,
  attributes: string[] | undefined,
  completeSlices: boolean,
): Promise<DirectoryEntry | undefined> {
  try {
    const options: SearchOptions = { scope: 'base', ...(attributes ? { attributes } : {}) }
    const entries = completeSlices
      ? await search(connection, dn, filter.any(), options)
      : await searchSlices(connection, dn, filter.any(), options)
    return entries[0]
  } catch (err) {
    if (err instanceof KrbfleetError && err.code === ErrorCode.NotFound) return undefined
    throw err
  }
}

export async function exists(connection: LdapConnection, dn: string): Promise<boolean> {
  return (await read(connection, dn, ['1.1'])) !== undefined
}

/**
 * Every value of a multi-valued attribute, following AD's range retrieval when the DC slices it
 * (more than MaxValRange, 1500, values). `rangeSize` asks for slices of that size from the start.
 */
export async function readValues(
  connection: LdapConnection,
  dn: string,
  attribute: string,
  options: { rangeSize?: number } = {},
): Promise<string[]> {
  checkAttributeName(attribute)
  const size = options.rangeSize
  if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
    throw new ValidationError([{ field: 'rangeSize', rule: 'must be a positive integer' }], 'read')
  }
  const values: string[] = []
  let next = 0
  let ask = size === undefined ? attribute : `${attribute};range=0-${size - 1}`
  for (;;) {
    const entry = await readEntry(connection, dn, [ask], false)
    if (!entry)
      throw new KrbfleetError(ErrorCode.NotFound, `LDAP read ${attribute} of ${dn}: no such entry`, {
        details: { dn },
      })
    const slice = entry.ranged(attribute)
    if (!slice) {
      // Not sliced: everything came at once (or, past the first slice, nothing more is left).
      if (next === 0) return entry.values(attribute)
      return values
    }
    values.push(...slice.values)
    if (slice.last === undefined) return values
    next = slice.last + 1
    ask =
      size === undefined ? `${attribute};range=${next}-*` : `${attribute};range=${next}-${next + size - 1}`
  }
}
