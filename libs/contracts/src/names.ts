import { ErrorCode, KrbfleetError } from './errors.ts'

/**
 * Validation of the names krbfleet deals in. Each function returns the canonical form or throws a
 * rule_violation naming the field and the rule, so that every edge gives the same message.
 */

const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

function broken(field: string, message: string): KrbfleetError {
  return new KrbfleetError(ErrorCode.RuleViolation, `${field}: ${message}`, { field })
}

/** A host name per RFC 1123 (one or more labels), lower-cased. */
export function normalizeHostName(value: string, field: string): string {
  const name = value.trim().toLowerCase().replace(/\.$/, '')
  if (name.length === 0) throw broken(field, 'must not be empty')
  if (name.length > 253) throw broken(field, `'${value}' is longer than 253 characters (RFC 1123)`)
  for (const part of name.split('.')) {
    if (!label.test(part)) {
      throw broken(
        field,
        `'${value}' is not a valid host name: each label is 1-63 letters, digits or hyphens, not starting or ending with a hyphen (RFC 1123)`,
      )
    }
  }
  return name
}

/** A fully qualified domain name: a host name with at least two labels, lower-cased. */
export function normalizeFqdn(value: string, field: string): string {
  const name = normalizeHostName(value, field)
  if (!name.includes('.')) throw broken(field, `'${value}' is not fully qualified: it needs a domain part`)
  return name
}

export interface AccountName {
  /** NetBIOS domain name, upper-cased (CORP). */
  domain: string
  /** Account name without the trailing `$`, upper-cased (KERBAUTH). */
  name: string
  /** `DOMAIN\NAME`, the canonical form. */
  id: string
  /** sAMAccountName of the computer account (`KERBAUTH$`). */
  samAccountName: string
}

const netbiosChars = /^[A-Za-z0-9][A-Za-z0-9_-]*$/

/** Parses `DOMAIN\NAME` (Lync's -UserAccount form). The name part is a NetBIOS name of at most 15 characters. */
export function parseAccountName(value: string, field = 'account'): AccountName {
  const parts = value.trim().split('\\')
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw broken(field, `'${value}' must be in DOMAIN\\NAME form (for example CORP\\KERBAUTH)`)
  }
  const domain = parts[0].toUpperCase()
  const name = parts[1].replace(/\$$/, '').toUpperCase()
  if (!netbiosChars.test(domain) || domain.length > 15) {
    throw broken(
      field,
      `domain part '${parts[0]}' must be a NetBIOS domain name: 1-15 letters, digits, '-' or '_'`,
    )
  }
  if (name.length > 15) {
    throw broken(
      field,
      `name part '${parts[1]}' is ${name.length} characters; NetBIOS names allow at most 15`,
    )
  }
  if (!netbiosChars.test(name)) {
    throw broken(field, `name part '${parts[1]}' may hold only letters, digits, '-' and '_'`)
  }
  return { domain, name, id: `${domain}\\${name}`, samAccountName: `${name}$` }
}
