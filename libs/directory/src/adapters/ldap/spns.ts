import { ErrorCode, KrbfleetError, ValidationError } from '@krbfleet/contracts'
import { Attribute, Change } from 'ldapts'
import { normalizeDn, parseDn } from '../../domain/dn.ts'
import { SpnConflictError } from '../../domain/errors.ts'
import { filter } from '../../domain/filter.ts'
import {
  defaultSpnMappings,
  parseSpn,
  parseSpnMappings,
  type SpnMappings,
  spnConflictCandidates,
} from '../../domain/spn.ts'
import type { LdapConnection } from './connection.ts'
import { read, readValues, search } from './reads.ts'

/** Who holds an SPN: `spn` is the value found, which may be an alias form (HOST/x for HTTP/x). */
export interface SpnHolder {
  dn: string
  samAccountName: string
  spn: string
}

/** What the SPN operations need besides the connection: where to search, and the forest's alias rules. */
export interface SpnScope {
  connection: LdapConnection
  /** Searched when the caller names no base: the domain naming context. */
  baseDn: string
  /** The forest's sPNMappings; read once per connection by the caller ({@link readSpnMappings}). */
  mappings: () => Promise<SpnMappings>
}

/** The forest's sPNMappings (which service classes HOST/ stands for), or the defaults when none are set. */
export async function readSpnMappings(
  connection: LdapConnection,
  configurationNamingContext: string,
): Promise<SpnMappings> {
  if (!configurationNamingContext) return defaultSpnMappings
  const entry = await read(
    connection,
    `CN=Directory Service,CN=Windows NT,CN=Services,${configurationNamingContext}`,
    ['sPNMappings'],
  )
  const values = entry?.values('sPNMappings') ?? []
  return values.length > 0 ? parseSpnMappings(values) : defaultSpnMappings
}

export async function getSpns(connection: LdapConnection, dn: string): Promise<string[]> {
  return await readValues(connection, dn, 'servicePrincipalName')
}

/** For each SPN, every account that holds it or an alias of it (HOST/ for HTTP/), searched case-insensitively. */
export async function findSpnHolders(
  scope: SpnScope,
  spns: readonly string[],
  options: { base?: string } = {},
): Promise<Map<string, SpnHolder[]>> {
  spns.forEach((spn, i) => {
    parseSpn(spn, `spns.${i}`)
  })
  const result = new Map<string, SpnHolder[]>()
  if (spns.length === 0) return result
  const mappings = await scope.mappings()
  // lower-cased candidate -> the requested SPNs it conflicts with
  const wantedBy = new Map<string, Set<string>>()
  for (const spn of spns) {
    result.set(spn, [])
    for (const candidate of spnConflictCandidates(spn, mappings)) {
      const key = candidate.toLowerCase()
      const set = wantedBy.get(key) ?? new Set<string>()
      set.add(spn)
      wantedBy.set(key, set)
    }
  }
  const base = options.base ?? scope.baseDn
  const candidates = [...wantedBy.keys()]
  const seen = new Set<string>()
  // Chunks keep each filter well under the DC's MaxQueryDuration and request size limits.
  for (let i = 0; i < candidates.length; i += 100) {
    const chunk = candidates.slice(i, i + 100)
    const entries = await search(
      scope.connection,
      base,
      filter.or(...chunk.map((c) => filter.eq('servicePrincipalName', c))),
      { attributes: ['sAMAccountName', 'servicePrincipalName'], paged: true },
    )
    for (const entry of entries) {
      const samAccountName = entry.value('sAMAccountName') ?? ''
      for (const value of entry.values('servicePrincipalName')) {
        for (const spn of wantedBy.get(value.toLowerCase()) ?? []) {
          const key = `${spn}\u0000${entry.dn.toLowerCase()}\u0000${value.toLowerCase()}`
          if (seen.has(key)) continue
          seen.add(key)
          result.get(spn)?.push({ dn: entry.dn, samAccountName, spn: value })
        }
      }
    }
  }
  return result
}

/** Adds and removes SPNs of one account in ONE modify (atomic on the DC). */
export async function modifySpns(
  scope: SpnScope,
  dn: string,
  change: { add?: readonly string[]; remove?: readonly string[] },
): Promise<void> {
  parseDn(dn)
  const add = uniqueSpns(change.add ?? [], 'add')
  const remove = uniqueSpns(change.remove ?? [], 'remove')
  const removing = new Set(remove.map((s) => s.toLowerCase()))
  const both = add.find((s) => removing.has(s.toLowerCase()))
  if (both !== undefined) {
    throw new ValidationError([{ field: 'add', rule: `${both} is also in remove` }], 'SPN change')
  }
  const changes: Change[] = []
  if (add.length > 0) changes.push(spnChange('add', add))
  if (remove.length > 0) changes.push(spnChange('delete', remove))
  if (changes.length === 0) return
  try {
    await scope.connection.run('modify SPNs of', dn, (c) => c.modify(dn, changes))
  } catch (err) {
    throw await explainSpnFailure(scope, dn, add, err)
  }
}

function spnChange(operation: 'add' | 'delete', spns: string[]): Change {
  return new Change({
    operation,
    modification: new Attribute({ type: 'servicePrincipalName', values: spns }),
  })
}

/**
 * Turns a refused SPN add into a SpnConflictError that names the SPN and its holder. Samba
 * names the SPN for a direct duplicate (0000202F) but answers a bare constraint violation for
 * an alias collision (HOST/x held elsewhere blocks HTTP/x), so the holders are looked up.
 */
async function explainSpnFailure(scope: SpnScope, dn: string, add: string[], err: unknown): Promise<unknown> {
  const refused =
    err instanceof SpnConflictError ||
    (err instanceof KrbfleetError && err.code === ErrorCode.RuleViolation && err.details?.ldapCode === 19)
  if (!refused || add.length === 0) return err
  const known = err instanceof SpnConflictError ? err.spn?.toLowerCase() : undefined
  let holders: Map<string, SpnHolder[]>
  try {
    holders = await findSpnHolders(scope, known ? add.filter((s) => s.toLowerCase() === known) : add)
  } catch {
    return err
  }
  const self = normalizeDn(dn)
  for (const [spn, list] of holders) {
    const holder = list.find((h) => normalizeDn(h.dn) !== self)
    if (!holder) continue
    return new SpnConflictError(
      spn,
      `LDAP modify SPNs of ${dn}: ${spn} conflicts with ${holder.spn} held by ${holder.samAccountName || holder.dn}`,
      { cause: err, details: { ...(err as KrbfleetError).details, spn, holder } },
    )
  }
  if (err instanceof SpnConflictError && err.spn === undefined && add.length === 1) {
    return new SpnConflictError(add[0], err.message, { cause: err.cause, details: err.details ?? {} })
  }
  return err
}

function uniqueSpns(spns: readonly string[], field: string): string[] {
  if (!Array.isArray(spns))
    throw new ValidationError([{ field, rule: 'must be a list of SPNs' }], 'SPN change')
  const seen = new Set<string>()
  const out: string[] = []
  spns.forEach((spn, i) => {
    parseSpn(spn, `${field}.${i}`)
    if (seen.has(spn.toLowerCase())) return
    seen.add(spn.toLowerCase())
    out.push(spn)
  })
  return out
}
