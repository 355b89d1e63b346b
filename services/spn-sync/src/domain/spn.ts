import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'

/**
 * Service principal names as Active Directory compares them. servicePrincipalName has Unicode
 * string syntax (2.5.5.12) and AD matches its values case-insensitively, so `HTTP/Pool01.Corp` and
 * `http/pool01.corp` are the same SPN for uniqueness and for deletion (MS-ADTS 3.1.1.5.3.1.1.4).
 * Every set of SPNs in this service is therefore keyed by {@link spnKey}.
 */

/** The service class krbfleet writes for web pools (browsers ask for HTTP/<host>, RFC 4559). */
export const HTTP = 'HTTP'

/** The comparison key of an SPN: lower case, as AD compares. */
export function spnKey(spn: string): string {
  return spn.toLowerCase()
}

/** `HTTP/<host>` with the host part in canonical lower case. */
export function httpSpn(host: string): string {
  return `${HTTP}/${host.trim().toLowerCase().replace(/\.$/, '')}`
}

export interface ParsedSpn {
  serviceClass: string
  /** Lower-cased host part. */
  host: string
  port: number | undefined
  serviceName: string | undefined
}

// serviceclass "/" host [":" port] ["/" servicename] (MS-ADTS 2.2.21, RFC 4120 section 6.2).
const spnPattern =
  /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/([A-Za-z0-9._-]{1,253})(?::(\d{1,5}))?(?:\/([^\s/]{1,253}))?$/

/**
 * Checks an SPN typed by an operator (`spn query`), returning it with a lower-cased host part.
 * Throws a rule_violation naming `field` and the rule otherwise.
 */
export function parseSpn(value: string, field = 'spn'): ParsedSpn {
  const trimmed = value.trim()
  const match = spnPattern.exec(trimmed)
  if (!match || trimmed.length > 512) {
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `${field}: '${value}' is not a service principal name: expected serviceclass/host[:port][/servicename] without spaces (for example HTTP/pool01.corp.example.com)`,
      { field },
    )
  }
  const port = match[3] === undefined ? undefined : Number(match[3])
  if (port !== undefined && (port < 1 || port > 65535)) {
    throw new KrbfleetError(ErrorCode.RuleViolation, `${field}: port ${port} is outside 1-65535`, { field })
  }
  return {
    serviceClass: match[1]!,
    host: match[2]!.toLowerCase(),
    port,
    serviceName: match[4],
  }
}

/** The canonical text of a parsed SPN: service class as given, host lower case. */
export function formatSpn(spn: ParsedSpn): string {
  return `${spn.serviceClass}/${spn.host}${spn.port === undefined ? '' : `:${spn.port}`}${spn.serviceName === undefined ? '' : `/${spn.serviceName}`}`
}

/** The canonical form of an SPN string: the operator's service class, lower-case host. */
export function canonicalSpn(value: string, field = 'spn'): string {
  return formatSpn(parseSpn(value, field))
}

/**
 * A set of SPNs compared case-insensitively. Keeps the first spelling seen of each SPN, so values
 * read from AD keep their stored spelling (needed to delete them byte for byte where a directory
 * compares case-sensitively) and desired values keep their canonical one.
 */
export class SpnSet implements Iterable<string> {
  readonly #byKey = new Map<string, string>()

  constructor(values: Iterable<string> = []) {
    for (const value of values) this.add(value)
  }

  add(spn: string): this {
    const key = spnKey(spn)
    if (!this.#byKey.has(key)) this.#byKey.set(key, spn)
    return this
  }

  has(spn: string): boolean {
    return this.#byKey.has(spnKey(spn))
  }

  delete(spn: string): boolean {
    return this.#byKey.delete(spnKey(spn))
  }

  /** The stored spelling of `spn`, if present. */
  get(spn: string): string | undefined {
    return this.#byKey.get(spnKey(spn))
  }

  get size(): number {
    return this.#byKey.size
  }

  [Symbol.iterator](): Iterator<string> {
    return this.#byKey.values()
  }

  /** The values sorted by key: stable output for events, plans and tests. */
  sorted(): string[] {
    return [...this.#byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v)
  }

  union(other: Iterable<string>): SpnSet {
    const out = new SpnSet(this)
    for (const v of other) out.add(v)
    return out
  }

  minus(other: Iterable<string>): SpnSet {
    const remove = other instanceof SpnSet ? other : new SpnSet(other)
    return new SpnSet([...this].filter((v) => !remove.has(v)))
  }

  intersect(other: Iterable<string>): SpnSet {
    const keep = other instanceof SpnSet ? other : new SpnSet(other)
    return new SpnSet([...this].filter((v) => keep.has(v)))
  }

  equals(other: SpnSet): boolean {
    if (other.size !== this.size) return false
    for (const v of this) if (!other.has(v)) return false
    return true
  }
}
