/**
 * Salts and principal names of Active Directory computer accounts.
 *
 * MS-KILE 3.1.1.2 ("Cryptographic Material"): for a computer account the salt is the uppercase
 * realm, the literal "host", the sAMAccountName without its trailing "$" in lowercase, ".", and
 * the lowercase DNS domain name. It is built from sAMAccountName, never from dNSHostName, and
 * differs from the MIT default salt (REALM + principal components), which fails
 * pre-authentication (verified against Samba, see shared/lab/NOTES.md).
 */
import { ValidationError, type ValidationIssue } from '@krbfleet/contracts'

export interface ComputerAccountName {
  /** Kerberos realm, for AD the uppercase DNS domain: `CORP.EXAMPLE.COM`. */
  realm: string
  /** `KERBAUTH$` (the trailing `$` may be omitted). */
  samAccountName: string
  /** DNS name of the domain: `corp.example.com`. */
  dnsDomain: string
}

/** NetBIOS computer names are at most 15 characters; sAMAccountName adds the `$`. */
const SAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,14}\$?$/
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** `KERBAUTH$` -> `KERBAUTH`. */
export function computerNameOf(samAccountName: string): string {
  return samAccountName.endsWith('$') ? samAccountName.slice(0, -1) : samAccountName
}

/** `KERBAUTH` or `KERBAUTH$` -> `KERBAUTH$`. */
export function computerSamAccountName(samAccountName: string): string {
  return samAccountName.endsWith('$') ? samAccountName : `${samAccountName}$`
}

/** The AD salt of a computer account, e.g. `CORP.EXAMPLE.COMhostkerbauth.corp.example.com`. */
export function adComputerSalt(account: ComputerAccountName): string {
  checkComputerAccountName(account)
  const name = computerNameOf(account.samAccountName).toLowerCase()
  return `${account.realm.toUpperCase()}host${name}.${account.dnsDomain.toLowerCase()}`
}

/** The client principal of a computer account: `KERBAUTH$@CORP.EXAMPLE.COM`. */
export function computerPrincipal(account: Pick<ComputerAccountName, 'realm' | 'samAccountName'>): string {
  return `${computerSamAccountName(account.samAccountName)}@${account.realm.toUpperCase()}`
}

/** Throws a ValidationError naming every bad field. */
export function checkComputerAccountName(account: ComputerAccountName): void {
  const issues: ValidationIssue[] = []
  if (typeof account.realm !== 'string' || !DNS_NAME.test(account.realm)) {
    issues.push({ field: 'realm', rule: 'must be a DNS-style realm name such as CORP.EXAMPLE.COM' })
  }
  if (typeof account.samAccountName !== 'string' || !SAM_NAME.test(account.samAccountName)) {
    issues.push({
      field: 'samAccountName',
      rule: 'must be 1 to 15 letters, digits, "_" or "-" (starting with a letter or digit), optionally followed by "$"',
    })
  }
  if (typeof account.dnsDomain !== 'string' || !DNS_NAME.test(account.dnsDomain)) {
    issues.push({ field: 'dnsDomain', rule: 'must be a DNS domain name such as corp.example.com' })
  }
  if (issues.length > 0) throw new ValidationError(issues, 'computer account name')
}
