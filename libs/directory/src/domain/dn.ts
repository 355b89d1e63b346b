import { ValidationError } from '@krbfleet/contracts'
import { escapeDnValue } from './escape.ts'

/** One `type=value` of an RDN, the value unescaped. */
export interface DnAttribute {
  type: string
  value: string
}

/** A relative distinguished name: usually one attribute, several when joined with `+`. */
export type Rdn = DnAttribute[]

const attributeType = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$/
const hexPair = /^[0-9A-Fa-f]{2}$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

function invalid(rule: string, field: string): ValidationError {
  return new ValidationError([{ field, rule }], 'DN')
}

/**
 * Parses a DN string (RFC 4514 section 3) into RDNs, outermost last (`CN=a,DC=corp` -> [[CN=a],
 * [DC=corp]]). Values are unescaped (`\,`, `\2C` and UTF-8 `\hh` sequences). Spaces around `,`,
 * `+` and `=` are tolerated as in RFC 2253 readers. A DN that does not parse throws a
 * ValidationError naming the RDN and the rule it breaks. The empty string is the empty DN (the
 * root DSE) and gives [].
 */
export function parseDn(dn: string, field = 'dn'): Rdn[] {
  if (typeof dn !== 'string') throw invalid('must be a string', field)
  const rdns: Rdn[] = []
  if (dn.trim() === '') return rdns
  let i = 0
  let rdn: Rdn = []
  const where = () => `RDN ${rdns.length + 1}`
  const skipSpaces = () => {
    while (dn[i] === ' ') i++
  }
  for (;;) {
    skipSpaces()
    const typeStart = i
    while (i < dn.length && dn[i] !== '=' && dn[i] !== ',' && dn[i] !== '+') i++
    const type = dn.slice(typeStart, i).trim()
    if (dn[i] !== '=') {
      throw invalid(
        `${where()} (${JSON.stringify(dn.slice(typeStart, i))}) has no '=' between type and value`,
        field,
      )
    }
    if (!attributeType.test(type)) {
      throw invalid(`${where()}: attribute type ${JSON.stringify(type)} is not a name or OID`, field)
    }
    i++ // '='
    skipSpaces()
    const bytes: number[] = []
    // Where the value's trailing unescaped spaces start (they are not part of the value).
    let keptLength = 0
    if (dn[i] === '#') {
      // RFC 4514 2.4 hexstring: the BER encoding of the value; kept as written.
      const start = i
      i++
      while (i < dn.length && /[0-9A-Fa-f]/.test(dn[i] ?? '')) i++
      const text = dn.slice(start, i)
      if (text.length < 3 || text.length % 2 === 0) {
        throw invalid(
          `${where()}: hex value ${JSON.stringify(text)} must be '#' and pairs of hex digits`,
          field,
        )
      }
      bytes.push(...Buffer.from(text, 'utf8'))
      keptLength = bytes.length
      skipSpaces()
      if (i < dn.length && dn[i] !== ',' && dn[i] !== '+') {
        throw invalid(`${where()}: unexpected ${JSON.stringify(dn[i])} after the hex value`, field)
      }
    } else {
      while (i < dn.length && dn[i] !== ',' && dn[i] !== '+') {
        const char = dn[i] as string
        if (char === '\\') {
          const next = dn[i + 1]
          if (next === undefined) throw invalid(`${where()}: value ends with a lone '\\'`, field)
          const pair = dn.slice(i + 1, i + 3)
          if (hexPair.test(pair)) {
            bytes.push(Number.parseInt(pair, 16))
            i += 3
          } else if ('"+,;<>\\= #'.includes(next)) {
            bytes.push(next.charCodeAt(0))
            i += 2
          } else {
            throw invalid(
              `${where()}: '\\${next}' is not an escape (use '\\' before a special character or two hex digits)`,
              field,
            )
          }
          keptLength = bytes.length
          continue
        }
        if (char === '"' || char === ';' || char === '<' || char === '>' || char === '\0') {
          throw invalid(`${where()}: ${JSON.stringify(char)} must be escaped in a value`, field)
        }
        const encoded = Buffer.from(String.fromCodePoint(dn.codePointAt(i) ?? 0), 'utf8')
        bytes.push(...encoded)
        i += String.fromCodePoint(dn.codePointAt(i) ?? 0).length
        if (char !== ' ') keptLength = bytes.length
      }
    }
    let value: string
    try {
      value = utf8.decode(Uint8Array.from(bytes.slice(0, keptLength)))
    } catch {
      throw invalid(`${where()}: the escaped bytes of the ${type} value are not UTF-8`, field)
    }
    if (value === '') throw invalid(`${where()}: ${type} has an empty value`, field)
    rdn.push({ type, value })
    if (i >= dn.length) {
      rdns.push(rdn)
      return rdns
    }
    const separator = dn[i]
    i++
    if (separator === ',') {
      rdns.push(rdn)
      rdn = []
    }
    if (dn.slice(i).trim() === '')
      throw invalid(`${where()}: the DN ends with ${JSON.stringify(separator)}`, field)
  }
}

/** The string form of RDNs, each value escaped (RFC 4514). */
export function formatDn(rdns: readonly Rdn[]): string {
  return rdns.map((rdn) => rdn.map((a) => `${a.type}=${escapeDnValue(a.value)}`).join('+')).join(',')
}

/** `type=escaped(value),parent`: the DN of a child entry named by one value. */
export function childDn(type: string, value: string, parent: string): string {
  if (!attributeType.test(type))
    throw invalid(`attribute type ${JSON.stringify(type)} is not a name or OID`, 'type')
  if (value === '') throw invalid(`${type} has an empty value`, 'value')
  const parentRdns = parseDn(parent, 'parent')
  return formatDn([[{ type, value }], ...parentRdns])
}

/** The DN without its first RDN (`CN=a,OU=b,DC=c` -> `OU=b,DC=c`). */
export function parentDn(dn: string): string {
  return formatDn(parseDn(dn).slice(1))
}

/** The value of the first RDN (`CN=KERBAUTH,CN=Computers,...` -> `KERBAUTH`). */
export function rdnValue(dn: string): string {
  const first = parseDn(dn)[0]?.[0]
  if (!first) throw invalid('is empty', 'dn')
  return first.value
}

/**
 * A comparable form: types and values lower-cased, escaping made canonical. Active Directory
 * compares names case-insensitively and may answer with another case or escaping than was sent.
 */
export function normalizeDn(dn: string): string {
  return formatDn(
    parseDn(dn).map((rdn) =>
      rdn
        .map((a) => ({ type: a.type.toLowerCase(), value: a.value.toLowerCase() }))
        .sort((x, y) => (x.type < y.type ? -1 : x.type > y.type ? 1 : 0)),
    ),
  )
}

export function dnEquals(a: string, b: string): boolean {
  return normalizeDn(a) === normalizeDn(b)
}

/** True when `dn` is `ancestor` or lies below it. */
export function isDnUnder(dn: string, ancestor: string): boolean {
  const inner = parseDn(dn)
  const outer = parseDn(ancestor)
  if (outer.length > inner.length) return false
  return normalizeDn(formatDn(inner.slice(inner.length - outer.length))) === normalizeDn(formatDn(outer))
}
