import { ErrorCode, KrbfleetError, ValidationError } from '@krbfleet/contracts'
import { parseSpn, type SpnParts } from '@krbfleet/directory'

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

/**
 * The canonical form of an SPN an operator typed (`spn query`): trimmed, the service class as
 * given, the host lower case. The SPN rules are libs/directory's parseSpn; a value that breaks them
 * is a rule_violation naming `field` here, because the request itself was well-formed (the
 * directory's own `invalid` is about a bad argument to one of its calls).
 */
export function canonicalSpn(value: string, field = 'spn'): string {
  let spn: SpnParts
  try {
    spn = parseSpn(value.trim(), field)
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `${field}: '${value}' is not a service principal name: ${err.issues[0]?.rule ?? 'malformed'}`,
      { field, cause: err },
    )
  }
  const port = spn.port === undefined ? '' : `:${spn.port}`
  const serviceName = spn.serviceName === undefined ? '' : `/${spn.serviceName}`
  return `${spn.serviceClass}/${spn.host.toLowerCase()}${port}${serviceName}`
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
