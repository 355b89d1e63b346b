import {
  type AccountName,
  ErrorCode,
  KrbfleetError,
  parseAccountName,
  ValidationError,
} from '@krbfleet/contracts'
// The DN grammar is libs/directory's (pure functions of its domain layer, no I/O): one parser for
// the whole tree. Only the account-specific rules live here.
import { escapeDnValue, formatDn, isDnUnder, parseDn } from '@krbfleet/directory'

/**
 * The computer account krbfleet creates for a pool of web servers (Lync's New-CsKerberosAccount):
 * what it is called, where it lives and which attributes it gets.
 */

/** userAccountControl flags (MS-ADTS 2.2.16, "userAccountControl Bits"). */
export const UserAccountControl = {
  AccountDisable: 0x2,
  PasswordNotRequired: 0x20,
  WorkstationTrustAccount: 0x1000,
  DontExpirePassword: 0x10000,
  TrustedForDelegation: 0x80000,
  UseDesKeyOnly: 0x200000,
  DontRequirePreauth: 0x400000,
} as const

/** msDS-SupportedEncryptionTypes bits (MS-KILE 2.2.7). */
export const EncryptionTypeBits = {
  DesCbcCrc: 0x1,
  DesCbcMd5: 0x2,
  Rc4Hmac: 0x4,
  Aes128: 0x8,
  Aes256: 0x10,
} as const

/** AES128 + AES256: no RC4, no DES (the default of the issue). */
export const DEFAULT_ENCRYPTION_TYPES = EncryptionTypeBits.Aes128 | EncryptionTypeBits.Aes256

/** The mark in `description` that tells people and `account list` that krbfleet owns the object. */
export const MANAGED_MARKER = 'Managed by krbfleet'
export const MANAGED_DESCRIPTION = `${MANAGED_MARKER}: Kerberos account for web pools; do not edit`

export function isManagedDescription(description: string | null | undefined): boolean {
  return typeof description === 'string' && description.startsWith(MANAGED_MARKER)
}

const encryptionTypeWords: Record<string, number> = {
  aes: EncryptionTypeBits.Aes128 | EncryptionTypeBits.Aes256,
  aes128: EncryptionTypeBits.Aes128,
  'aes128-cts-hmac-sha1-96': EncryptionTypeBits.Aes128,
  aes256: EncryptionTypeBits.Aes256,
  'aes256-cts-hmac-sha1-96': EncryptionTypeBits.Aes256,
  rc4: EncryptionTypeBits.Rc4Hmac,
  'rc4-hmac': EncryptionTypeBits.Rc4Hmac,
}

/**
 * `aes`, `aes128,aes256`, `aes256`, `rc4,aes` or the number (1-31) -> the msDS-SupportedEncryptionTypes
 * value. DES is refused (removed by RFC 6649); at least one AES type is required because krbfleet
 * derives and distributes AES keys only (RFC 3962).
 */
export function parseEncryptionTypes(value: string | number, field = 'encryptionTypes'): number {
  let bits = 0
  if (typeof value === 'number' || /^\s*\d+\s*$/.test(value)) {
    bits = typeof value === 'number' ? value : Number.parseInt(value, 10)
    if (!Number.isInteger(bits) || bits < 1 || bits > 31) {
      throw new KrbfleetError(
        ErrorCode.Invalid,
        `${field}: ${value} is not an msDS-SupportedEncryptionTypes value (1-31)`,
        {
          field,
        },
      )
    }
  } else {
    const words = value
      .split(',')
      .map((w) => w.trim().toLowerCase())
      .filter(Boolean)
    if (words.length === 0)
      throw new KrbfleetError(ErrorCode.Invalid, `${field}: must not be empty`, { field })
    for (const word of words) {
      const bit = encryptionTypeWords[word]
      if (bit === undefined) {
        throw new KrbfleetError(
          ErrorCode.Invalid,
          `${field}: '${word}' is not an encryption type; use aes, aes128, aes256 or rc4 (comma separated)`,
          { field },
        )
      }
      bits |= bit
    }
  }
  if (bits & (EncryptionTypeBits.DesCbcCrc | EncryptionTypeBits.DesCbcMd5)) {
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `${field}: DES is not allowed (RFC 6649 deprecates it)`,
      { field },
    )
  }
  if (!(bits & (EncryptionTypeBits.Aes128 | EncryptionTypeBits.Aes256))) {
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `${field}: at least one AES type is required (krbfleet distributes AES keys, RFC 3962)`,
      { field },
    )
  }
  return bits
}

/** True for a value krbfleet can serve: at least one AES type and no DES. */
export function isUsableEncryptionTypes(bits: number): boolean {
  const aes = EncryptionTypeBits.Aes128 | EncryptionTypeBits.Aes256
  const des = EncryptionTypeBits.DesCbcCrc | EncryptionTypeBits.DesCbcMd5
  return (bits & aes) !== 0 && (bits & des) === 0
}

/** Names of the bits set in an msDS-SupportedEncryptionTypes value. */
export function encryptionTypeNames(bits: number | null): string[] {
  if (bits === null) return []
  const names: string[] = []
  if (bits & EncryptionTypeBits.DesCbcCrc) names.push('des-cbc-crc')
  if (bits & EncryptionTypeBits.DesCbcMd5) names.push('des-cbc-md5')
  if (bits & EncryptionTypeBits.Rc4Hmac) names.push('rc4-hmac')
  if (bits & EncryptionTypeBits.Aes128) names.push('aes128-cts-hmac-sha1-96')
  if (bits & EncryptionTypeBits.Aes256) names.push('aes256-cts-hmac-sha1-96')
  return names
}

/** One computer account as AD reports it. */
export interface DirectoryAccount {
  dn: string
  samAccountName: string
  dnsHostName: string | null
  description: string | null
  userAccountControl: number | null
  encryptionTypes: number | null
  /** msDS-KeyVersionNumber (constructed: the adapter asks for it by name). */
  kvno: number | null
  passwordLastSet: Date | null
  servicePrincipalNames: string[]
  /**
   * objectGUID as hex: the object's identity for its whole life (a delete and a new add under the
   * same name give a new GUID, MS-ADTS 3.1.1.1.3). Null or absent when the adapter cannot read it.
   */
  objectGuid?: string | null
}

/** The domain the service works in (from its configuration). */
export interface DomainInfo {
  /** NetBIOS name, upper case (CORP). */
  netbiosDomain: string
  /** DNS name, lower case (corp.example.com). */
  dnsDomain: string
  /** `DC=corp,DC=example,DC=com` */
  baseDn: string
}

/** The DNS domain as its DC= DN. */
export function baseDnOfDnsDomain(dnsDomain: string): string {
  return dnsDomain
    .toLowerCase()
    .split('.')
    .map((label) => `DC=${escapeDnValue(label)}`)
    .join(',')
}

/** The domain's default Computers container (`CN=Computers,<base>`), as Lync's default. */
export function defaultContainerDn(domain: DomainInfo): string {
  return `CN=Computers,${domain.baseDn}`
}

/** An account name parsed and checked against the service's domain. */
export function accountInDomain(value: string, domain: DomainInfo, field = 'account'): AccountName {
  const account = parseAccountName(value, field)
  if (account.domain !== domain.netbiosDomain.toUpperCase()) {
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `${field}: domain '${account.domain}' is not the domain this service manages ('${domain.netbiosDomain.toUpperCase()}')`,
      { field },
    )
  }
  return account
}

/**
 * The container DN must parse (RFC 4514, libs/directory's parser) and lie inside the domain;
 * whether it exists is asked of the directory by the adapter. On top of the grammar, a container
 * DN must not be empty (the root DSE is no container), must use single-valued RDNs (containers
 * never need `+`, and it makes comparisons ambiguous) and no hex-encoded `#` values (they are
 * BER, not text, and would be written back as a different name).
 */
export function resolveContainerDn(
  value: string | undefined,
  domain: DomainInfo,
  field = 'containerDn',
): string {
  if (value === undefined) return defaultContainerDn(domain)
  const refuse = (rule: string) =>
    new KrbfleetError(ErrorCode.Invalid, `${field}: '${value}' is not a valid distinguished name: ${rule}`, {
      field,
    })
  if (value.trim().length === 0) throw refuse('it is empty')
  if (/=\s*#/.test(value)) throw refuse('hex-encoded (#) values are not supported in a container DN')
  let rdns: ReturnType<typeof parseDn>
  try {
    rdns = parseDn(value, field)
  } catch (err) {
    if (err instanceof ValidationError) throw refuse(err.issues[0]?.rule ?? 'it does not parse (RFC 4514)')
    throw err
  }
  if (rdns.some((rdn) => rdn.length !== 1))
    throw refuse('multi-valued RDNs (+) are not supported in a container DN')
  if (!isDnUnder(value, domain.baseDn)) {
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `${field}: '${value}' is not inside the domain ${domain.baseDn}`,
      { field },
    )
  }
  return formatDn(rdns)
}

/** `CN=<NAME>,<container>`: the RDN uses the name without `$`, as AD Users and Computers does. */
export function accountDn(account: AccountName, containerDn: string): string {
  return `${formatDn([[{ type: 'CN', value: account.name }]])},${containerDn}`
}

/** `kerbauth.corp.example.com`: AD derives the account's host SPNs and Kerberos salt from such names. */
export function dnsHostNameOf(account: AccountName, domain: DomainInfo): string {
  return `${account.name.toLowerCase()}.${domain.dnsDomain.toLowerCase()}`
}

/** The attributes of a new computer account, without the password (the adapter adds unicodePwd). */
export interface NewAccountAttributes {
  objectClass: string[]
  sAMAccountName: string
  userAccountControl: string
  dNSHostName: string
  description: string
  'msDS-SupportedEncryptionTypes': string
}

/**
 * One LDAP add creates the account (lab/NOTES.md); no SPNs: spn-sync owns them.
 * userAccountControl WORKSTATION_TRUST_ACCOUNT (MS-ADTS 2.2.16) makes it a computer account,
 * which accepts any password (no policy) and gets the computer salt (MS-KILE 3.1.1.2).
 */
export function newAccountAttributes(
  account: AccountName,
  domain: DomainInfo,
  encryptionTypes: number,
): NewAccountAttributes {
  return {
    objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
    sAMAccountName: account.samAccountName,
    userAccountControl: String(UserAccountControl.WorkstationTrustAccount),
    dNSHostName: dnsHostNameOf(account, domain),
    description: MANAGED_DESCRIPTION,
    'msDS-SupportedEncryptionTypes': String(encryptionTypes),
  }
}

/** Windows FILETIME (100 ns since 1601-01-01, as in pwdLastSet) to a Date; 0 means "never". */
export function fileTimeToDate(value: string | number | bigint | null | undefined): Date | null {
  if (value === null || value === undefined || value === '') return null
  const ticks = BigInt(value)
  if (ticks <= 0n) return null
  const epochDiff = 116444736000000000n
  return new Date(Number((ticks - epochDiff) / 10000n))
}
