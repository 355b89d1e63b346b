import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'

/**
 * A small RFC 4514 distinguished-name parser: enough to check that an operator's container DN is
 * well formed and lies inside the domain before anything is sent to the directory.
 */

export interface Rdn {
  /** Attribute type as written (`OU`, `CN`, `DC`). */
  type: string
  /** Unescaped value. */
  value: string
}

const attributeType = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)$/

function invalid(field: string, value: string, rule: string): KrbfleetError {
  return new KrbfleetError(
    ErrorCode.Invalid,
    `${field}: '${value}' is not a valid distinguished name: ${rule}`,
    {
      field,
    },
  )
}

/**
 * Parses `OU=Web,DC=corp,DC=example,DC=com` into RDNs (outermost last). Multi-valued RDNs (`+`)
 * are refused: containers never need them and they make comparisons ambiguous.
 */
export function parseDn(value: string, field = 'containerDn'): Rdn[] {
  if (value.trim().length === 0) throw invalid(field, value, 'it is empty')
  const rdns: Rdn[] = []
  let i = 0
  const text = value
  while (i < text.length) {
    // attribute type up to '='
    const eq = text.indexOf('=', i)
    if (eq < 0) throw invalid(field, value, `RDN '${text.slice(i)}' has no '=' (RFC 4514 section 3)`)
    const type = text.slice(i, eq).trim()
    if (!attributeType.test(type)) {
      throw invalid(field, value, `'${type}' is not an attribute type (RFC 4514 section 3)`)
    }
    i = eq + 1
    let raw = ''
    let out = ''
    let ended = false
    // leading spaces are not part of the value unless escaped
    while (i < text.length && text[i] === ' ') i++
    if (text[i] === '#')
      throw invalid(field, value, 'hex-encoded (#) values are not supported in a container DN')
    while (i < text.length) {
      const c = text[i] as string
      if (c === '\\') {
        const next = text[i + 1]
        if (next === undefined) throw invalid(field, value, 'it ends with a lone backslash')
        if (/[0-9a-fA-F]/.test(next) && /[0-9a-fA-F]/.test(text[i + 2] ?? '')) {
          // \XX hex pairs form UTF-8 bytes
          const bytes: number[] = []
          while (text[i] === '\\' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
            bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16))
            i += 3
          }
          out += Buffer.from(bytes).toString('utf8')
          raw += 'x'
          continue
        }
        if (!',+"\\<>;= #'.includes(next)) {
          throw invalid(field, value, `'\\${next}' is not a valid escape (RFC 4514 section 2.4)`)
        }
        out += next
        raw += 'x'
        i += 2
        continue
      }
      if (c === ',') {
        ended = true
        i++
        break
      }
      if (c === '+') throw invalid(field, value, 'multi-valued RDNs (+) are not supported in a container DN')
      if ('"<>;'.includes(c)) {
        throw invalid(field, value, `the character '${c}' must be escaped (RFC 4514 section 2.4)`)
      }
      if (c === '=') throw invalid(field, value, `an '=' in a value must be escaped (RFC 4514 section 2.4)`)
      out += c
      raw += c
      i++
    }
    // trailing unescaped spaces are not part of the value
    const trimmed = raw.replace(/ +$/, '')
    out = out.slice(0, out.length - (raw.length - trimmed.length))
    if (out.length === 0) throw invalid(field, value, `the value of '${type}' is empty`)
    rdns.push({ type, value: out })
    if (ended && i >= text.length) throw invalid(field, value, 'it ends with a comma')
  }
  return rdns
}

/** Canonical text for comparisons: upper-case types, lower-case values, RFC 4514 escaping. */
export function canonicalDn(rdns: Rdn[]): string {
  return rdns.map((r) => `${r.type.toUpperCase()}=${escapeRdnValue(r.value.toLowerCase())}`).join(',')
}

/** Writes a DN back as text with RFC 4514 escaping. */
export function formatDn(rdns: Rdn[]): string {
  return rdns.map((r) => `${r.type}=${escapeRdnValue(r.value)}`).join(',')
}

/** RFC 4514 section 2.4 escaping of one attribute value. */
export function escapeRdnValue(value: string): string {
  let out = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string
    const first = i === 0
    const last = i === value.length - 1
    if (',+"\\<>;='.includes(c) || (first && (c === ' ' || c === '#')) || (last && c === ' ')) out += `\\${c}`
    else if (c === '\u0000') out += '\\00'
    else out += c
  }
  return out
}

/** True when `dn` equals `ancestor` or lies below it (case-insensitive, as AD compares DNs). */
export function isWithin(dn: Rdn[], ancestor: Rdn[]): boolean {
  if (ancestor.length > dn.length) return false
  const tail = dn.slice(dn.length - ancestor.length)
  return canonicalDn(tail) === canonicalDn(ancestor)
}
