/**
 * The keys of an AD computer account, ready to be written to a keytab or sealed to an agent.
 * The rotation derives them once per rotation (ARCHITECTURE.md), not once per agent: PBKDF2 with
 * 4096 iterations is the expensive part of a rotation.
 */
import { ValidationError, type ValidationIssue } from '@krbfleet/contracts'
import type { KeytabEntry } from './keytab.ts'
import { NameType } from './keytab.ts'
import { adComputerSalt, checkComputerAccountName, computerSamAccountName } from './salt.ts'
import { assertEncType, defaultIterations, EncType, stringToKey } from './string-to-key.ts'

/** AES256 first: the order in which the KDC prefers them. */
export const defaultAccountEncTypes: readonly EncType[] = [
  EncType.Aes256CtsHmacSha196,
  EncType.Aes128CtsHmacSha196,
]

export interface DeriveAccountKeysInput {
  password: string
  realm: string
  samAccountName: string
  dnsDomain: string
  /** The msDS-KeyVersionNumber the keys belong to (read back after the reset, or expected). */
  kvno: number
  enctypes?: readonly EncType[]
  /** Written into the keytab entries; seconds since the epoch, now by default. */
  timestamp?: number
  /** PBKDF2 iterations; AD always uses the RFC 3962 default of 4096. */
  iterations?: number
}

/**
 * One keytab entry per encryption type for principal `NAME$@REALM`, salted the AD way
 * (MS-KILE 3.1.1.2). The returned keys are fresh Buffers: wipe them when done.
 */
export function deriveAccountKeys(input: DeriveAccountKeysInput): KeytabEntry[] {
  const issues: ValidationIssue[] = []
  if (typeof input.password !== 'string' || input.password.length === 0) {
    issues.push({ field: 'password', rule: 'must be a non-empty string' })
  }
  if (!Number.isInteger(input.kvno) || input.kvno < 0 || input.kvno > 0xffffffff) {
    issues.push({ field: 'kvno', rule: 'must be an integer from 0 to 4294967295' })
  }
  const enctypes = input.enctypes ?? defaultAccountEncTypes
  if (!Array.isArray(enctypes) || enctypes.length === 0) {
    issues.push({ field: 'enctypes', rule: 'must list at least one encryption type' })
  }
  if (issues.length > 0) throw new ValidationError(issues, 'account key input')
  for (const [i, enctype] of enctypes.entries()) assertEncType(enctype, `enctypes.${i}`)
  checkComputerAccountName(input)

  const salt = adComputerSalt(input)
  const realm = input.realm.toUpperCase()
  const timestamp = input.timestamp ?? Math.floor(Date.now() / 1000)
  return [...new Set(enctypes)].map((enctype) => ({
    principal: {
      realm,
      components: [computerSamAccountName(input.samAccountName)],
      nameType: NameType.Principal,
    },
    timestamp,
    kvno: input.kvno,
    enctype,
    key: stringToKey(enctype, input.password, salt, input.iterations ?? defaultIterations),
  }))
}
