/**
 * The MIT keytab file format, version 0x502: the de facto format read by MIT krb5, Heimdal, Java
 * and Windows ktpass. It has no RFC; the layout follows MIT's own description (doc/formats/
 * keytab_file_format.rst in the krb5 source, also Heimdal's krb5_fileformats(3)):
 *
 *   keytab   = uint16 version (0x0502) , entry*
 *   entry    = int32 size (negative: a deleted hole of -size bytes) , record[size]
 *   record   = uint16 count (components, realm excluded) , data realm , data component[count] ,
 *              uint32 name_type , uint32 timestamp , uint8 vno8 , uint16 enctype , data key ,
 *              [uint32 vno]   (present when at least 4 bytes remain; overrides vno8 unless 0)
 *   data     = uint16 length , byte[length]
 *
 * Every integer is big-endian. Like MIT's writer, `encodeKeytab` always writes the 32-bit kvno,
 * so kvnos above 255 (AD's msDS-KeyVersionNumber keeps counting) survive.
 */
import { ErrorCode, KrbfleetError, ValidationError, type ValidationIssue } from '@krbfleet/contracts'

/** KRB5_NT_PRINCIPAL (RFC 4120 section 6.2), the name type of AD account principals. */
export const NameType = {
  Unknown: 0,
  Principal: 1,
  SrvInst: 2,
  SrvHst: 3,
} as const

export const KEYTAB_VERSION = 0x0502

export interface KeytabPrincipal {
  realm: string
  /** Name components: `['KERBAUTH$']`, or `['HTTP', 'pool01.corp.example.com']`. */
  components: string[]
  /** RFC 4120 name type; 1 (KRB5_NT_PRINCIPAL) unless told otherwise. */
  nameType: number
}

export interface KeytabEntry {
  principal: KeytabPrincipal
  /** Seconds since the epoch when the key was written (informational; klist shows it). */
  timestamp: number
  /** Key version number (msDS-KeyVersionNumber), 0 to 2^32-1. */
  kvno: number
  /** Kerberos encryption type number (17, 18, ...). Entries of other types are kept as read. */
  enctype: number
  /** The key itself: a secret. */
  key: Buffer
}

/** A keytab that cannot be parsed. Never retryable: the bytes will not change by themselves. */
export class KeytabFormatError extends KrbfleetError {
  readonly offset: number
  constructor(message: string, offset: number) {
    super(ErrorCode.Invalid, `invalid keytab at byte ${offset}: ${message}`, { details: { offset } })
    this.name = 'KeytabFormatError'
    this.offset = offset
  }
}

/** `KERBAUTH$@CORP.EXAMPLE.COM` or `HTTP/pool01.corp.example.com@CORP.EXAMPLE.COM`. */
export function parsePrincipal(text: string, nameType: number = NameType.Principal): KeytabPrincipal {
  const at = text.lastIndexOf('@')
  const name = at < 0 ? '' : text.slice(0, at)
  const realm = at < 0 ? '' : text.slice(at + 1)
  if (!name || !realm || name.split('/').some((part) => part.length === 0)) {
    throw new ValidationError(
      [{ field: 'principal', rule: 'must be name[/instance]@REALM with no empty part' }],
      'principal',
    )
  }
  return { realm, components: name.split('/'), nameType }
}

export function formatPrincipal(principal: KeytabPrincipal): string {
  return `${principal.components.join('/')}@${principal.realm}`
}

export function samePrincipal(a: KeytabPrincipal, b: KeytabPrincipal): boolean {
  return (
    a.realm === b.realm &&
    a.components.length === b.components.length &&
    a.components.every((part, i) => part === b.components[i])
  )
}

/** Serialises entries to a complete keytab file. Validates everything first; writes nothing partial. */
export function encodeKeytab(entries: readonly KeytabEntry[]): Buffer {
  const issues = entries.flatMap((entry, i) => entryIssues(entry, `entries.${i}`))
  if (issues.length > 0) throw new ValidationError(issues, 'keytab entries')

  const records = entries.map(encodeRecord)
  const out = Buffer.alloc(2 + records.reduce((sum, record) => sum + 4 + record.length, 0))
  out.writeUInt16BE(KEYTAB_VERSION, 0)
  let offset = 2
  for (const record of records) {
    out.writeInt32BE(record.length, offset)
    record.copy(out, offset + 4)
    offset += 4 + record.length
    record.fill(0)
  }
  return out
}

/**
 * Parses a keytab file. Deleted entries (negative size) are skipped, a zero size ends the list
 * (MIT pads files with zeros), an unknown trailing field inside a record (Heimdal's flags) is
 * ignored. Anything truncated or inconsistent is a KeytabFormatError with the byte offset.
 */
export function decodeKeytab(bytes: Uint8Array): KeytabEntry[] {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (data.length < 2) throw new KeytabFormatError('file is shorter than the 2-byte version header', 0)
  const version = data.readUInt16BE(0)
  if (version !== KEYTAB_VERSION) {
    throw new KeytabFormatError(
      `unsupported version 0x${version.toString(16).padStart(4, '0')} (only 0x0502 is supported)`,
      0,
    )
  }
  const entries: KeytabEntry[] = []
  let offset = 2
  while (offset < data.length) {
    if (data.length - offset < 4) {
      throw new KeytabFormatError(
        `truncated: ${data.length - offset} byte(s) where a 4-byte entry size was expected`,
        offset,
      )
    }
    const size = data.readInt32BE(offset)
    if (size === 0) break
    const length = Math.abs(size)
    if (length > data.length - offset - 4) {
      throw new KeytabFormatError(
        `truncated: entry of ${length} byte(s) but only ${data.length - offset - 4} remain`,
        offset,
      )
    }
    if (size > 0) entries.push(decodeRecord(data.subarray(offset + 4, offset + 4 + size), offset + 4))
    offset += 4 + length
  }
  return entries
}

function encodeRecord(entry: KeytabEntry): Buffer {
  const realm = Buffer.from(entry.principal.realm, 'utf8')
  const components = entry.principal.components.map((part) => Buffer.from(part, 'utf8'))
  const size =
    2 +
    (2 + realm.length) +
    components.reduce((sum, c) => sum + 2 + c.length, 0) +
    4 +
    4 +
    1 +
    2 +
    2 +
    entry.key.length +
    4
  const out = Buffer.alloc(size)
  let o = out.writeUInt16BE(components.length, 0)
  o = writeData(out, o, realm)
  for (const component of components) o = writeData(out, o, component)
  o = out.writeInt32BE(entry.principal.nameType, o)
  o = out.writeUInt32BE(entry.timestamp, o)
  // The 8-bit field keeps the low byte; readers take the 32-bit kvno that follows the key.
  o = out.writeUInt8(entry.kvno & 0xff, o)
  o = out.writeUInt16BE(entry.enctype, o)
  o = writeData(out, o, entry.key)
  out.writeUInt32BE(entry.kvno, o)
  return out
}

function writeData(out: Buffer, offset: number, data: Uint8Array): number {
  offset = out.writeUInt16BE(data.length, offset)
  out.set(data, offset)
  return offset + data.length
}

function decodeRecord(record: Buffer, base: number): KeytabEntry {
  let o = 0
  const need = (n: number, what: string): void => {
    if (record.length - o < n) {
      throw new KeytabFormatError(
        `truncated record: ${what} needs ${n} byte(s), ${record.length - o} left`,
        base + o,
      )
    }
  }
  const readData = (what: string): Buffer => {
    need(2, `${what} length`)
    const length = record.readUInt16BE(o)
    o += 2
    need(length, what)
    const value = record.subarray(o, o + length)
    o += length
    return value
  }
  need(2, 'component count')
  const count = record.readUInt16BE(o)
  o += 2
  const realm = readData('realm').toString('utf8')
  const components: string[] = []
  for (let i = 0; i < count; i++) components.push(readData(`component ${i}`).toString('utf8'))
  need(4 + 4 + 1 + 2, 'name type, timestamp, kvno and enctype')
  const nameType = record.readInt32BE(o)
  const timestamp = record.readUInt32BE(o + 4)
  let kvno = record.readUInt8(o + 8)
  const enctype = record.readUInt16BE(o + 9)
  o += 11
  const key = Buffer.from(readData('key'))
  if (record.length - o >= 4) {
    const kvno32 = record.readUInt32BE(o)
    // A zero here is padding written by old tools, not a kvno (MIT krb5 kt_file.c does the same).
    if (kvno32 !== 0) kvno = kvno32
  }
  return { principal: { realm, components, nameType }, timestamp, kvno, enctype, key }
}

const UINT32_MAX = 0xffffffff

function entryIssues(entry: KeytabEntry, path: string): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  const { principal } = entry
  const tooLong = (value: string) => Buffer.byteLength(value, 'utf8') > 0xffff
  if (
    !principal ||
    typeof principal.realm !== 'string' ||
    principal.realm.length === 0 ||
    tooLong(principal.realm)
  ) {
    issues.push({
      field: `${path}.principal.realm`,
      rule: 'must be a non-empty string of at most 65535 bytes',
    })
  }
  if (
    !principal ||
    !Array.isArray(principal.components) ||
    principal.components.length === 0 ||
    principal.components.length > 0xffff ||
    principal.components.some((c) => typeof c !== 'string' || c.length === 0 || tooLong(c))
  ) {
    issues.push({
      field: `${path}.principal.components`,
      rule: 'must be 1 to 65535 non-empty strings of at most 65535 bytes',
    })
  }
  if (
    !principal ||
    !Number.isInteger(principal.nameType) ||
    principal.nameType < -0x80000000 ||
    principal.nameType > 0x7fffffff
  ) {
    issues.push({ field: `${path}.principal.nameType`, rule: 'must be a 32-bit integer' })
  }
  if (!Number.isInteger(entry.timestamp) || entry.timestamp < 0 || entry.timestamp > UINT32_MAX) {
    issues.push({
      field: `${path}.timestamp`,
      rule: 'must be whole seconds since the epoch, 0 to 4294967295',
    })
  }
  if (!Number.isInteger(entry.kvno) || entry.kvno < 0 || entry.kvno > UINT32_MAX) {
    issues.push({ field: `${path}.kvno`, rule: 'must be an integer from 0 to 4294967295' })
  }
  if (!Number.isInteger(entry.enctype) || entry.enctype < 0 || entry.enctype > 0xffff) {
    issues.push({ field: `${path}.enctype`, rule: 'must be an integer from 0 to 65535' })
  }
  if (!(entry.key instanceof Uint8Array) || entry.key.length === 0 || entry.key.length > 0xffff) {
    issues.push({ field: `${path}.key`, rule: 'must be 1 to 65535 bytes' })
  }
  return issues
}

/**
 * Adds `incoming` to `existing`, replacing an entry with the same principal, kvno and enctype.
 * The result is sorted by principal, then newest kvno first, then enctype (strongest first),
 * so that files are stable and klist shows the current key on top.
 */
export function mergeKeytabEntries(
  existing: readonly KeytabEntry[],
  incoming: readonly KeytabEntry[],
): KeytabEntry[] {
  const same = (a: KeytabEntry, b: KeytabEntry) =>
    a.kvno === b.kvno && a.enctype === b.enctype && samePrincipal(a.principal, b.principal)
  const kept = existing.filter((old) => !incoming.some((entry) => same(old, entry)))
  return sortKeytabEntries([...kept, ...incoming])
}

/**
 * Keeps, for each principal, only the `count` highest kvnos (all enctypes of each). Used after a
 * rotation: the previous kvno stays while cached tickets for it may still be presented.
 */
export function retainNewestKvnos(entries: readonly KeytabEntry[], count: number): KeytabEntry[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new ValidationError([{ field: 'count', rule: 'must be a positive integer' }], 'kvno count')
  }
  const kvnosByPrincipal = new Map<string, number[]>()
  for (const entry of entries) {
    const key = principalKey(entry.principal)
    const kvnos = kvnosByPrincipal.get(key) ?? []
    if (!kvnos.includes(entry.kvno)) kvnos.push(entry.kvno)
    kvnosByPrincipal.set(key, kvnos)
  }
  for (const kvnos of kvnosByPrincipal.values()) kvnos.sort((a, b) => b - a).splice(count)
  return sortKeytabEntries(
    entries.filter((entry) => kvnosByPrincipal.get(principalKey(entry.principal))?.includes(entry.kvno)),
  )
}

/** Drops the entries of `principal` (or of every principal) whose kvno is below `minKvno`. */
export function dropKvnosBelow(
  entries: readonly KeytabEntry[],
  minKvno: number,
  principal?: KeytabPrincipal,
): KeytabEntry[] {
  return entries.filter(
    (entry) =>
      entry.kvno >= minKvno || (principal !== undefined && !samePrincipal(entry.principal, principal)),
  )
}

/** Removes every entry of one kvno (a staged key that was never committed). */
export function removeKvno(
  entries: readonly KeytabEntry[],
  kvno: number,
  principal?: KeytabPrincipal,
): KeytabEntry[] {
  return entries.filter(
    (entry) => entry.kvno !== kvno || (principal !== undefined && !samePrincipal(entry.principal, principal)),
  )
}

/** The distinct kvnos held for a principal, highest first. */
export function kvnosOf(entries: readonly KeytabEntry[], principal: KeytabPrincipal): number[] {
  const kvnos = new Set(entries.filter((e) => samePrincipal(e.principal, principal)).map((e) => e.kvno))
  return [...kvnos].sort((a, b) => b - a)
}

export function sortKeytabEntries(entries: readonly KeytabEntry[]): KeytabEntry[] {
  const strength = (enctype: number) => (enctype === 18 ? 0 : enctype === 17 ? 1 : 2)
  return [...entries].sort(
    (a, b) =>
      compareText(principalKey(a.principal), principalKey(b.principal)) ||
      b.kvno - a.kvno ||
      strength(a.enctype) - strength(b.enctype) ||
      a.enctype - b.enctype,
  )
}

/** Overwrites every key with zeros: call when the entries are no longer needed. */
export function wipeKeytabEntries(entries: readonly KeytabEntry[]): void {
  for (const entry of entries) entry.key.fill(0)
}

function principalKey(principal: KeytabPrincipal): string {
  return JSON.stringify([principal.realm, principal.components])
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
