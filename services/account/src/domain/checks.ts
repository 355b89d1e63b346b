import type { AccountCheck, AccountTestReport, CheckStatus } from '@krbfleet/contracts'
import { encryptionTypeNames, isManagedDescription, UserAccountControl } from './account.ts'

/**
 * `krbfleet test account`: the account half of Lync's Test-CsKerberosAccountAssignment. Pure: it
 * judges facts read from AD, the KV record and spn-sync against the policy.
 */

export interface DirectoryFacts {
  dn: string
  description: string | null
  userAccountControl: number | null
  encryptionTypes: number | null
  passwordLastSet: Date | null
  kvno: number | null
  servicePrincipalNames: string[]
}

export interface AccountPolicy {
  /** msDS-SupportedEncryptionTypes the account should have (the record's, or the default). */
  expectedEncryptionTypes: number
  /** Rotation policy: the password must be younger than this. */
  maxPasswordAgeDays: number
  now: Date
}

export interface TestAccountInput {
  account: string
  /** null when the object does not exist in AD. */
  directory: DirectoryFacts | null
  /** null when krbfleet holds no record (not created or adopted by krbfleet). */
  secretKvno: number | null
  /** When a password write of unknown outcome is pending in the record: its start (ISO time). */
  pendingSince: string | null
  managed: boolean
  policy: AccountPolicy
  /** SPNs spn-sync wants on the account; null when spn-sync did not answer. */
  desiredSpns: string[] | null
}

const rank: Record<CheckStatus, number> = { pass: 0, unknown: 1, warn: 2, fail: 3 }

export function worstStatus(statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((worst, s) => (rank[s] > rank[worst] ? s : worst), 'pass')
}

const dayMs = 24 * 60 * 60 * 1000

export function testAccount(input: TestAccountInput): AccountTestReport {
  const checks: AccountCheck[] = []
  const add = (check: string, status: CheckStatus, detail: string) => checks.push({ check, status, detail })
  const ad = input.directory
  if (!ad) {
    add('exists', 'fail', `${input.account} does not exist in the directory`)
    return { account: input.account, outcome: 'fail', checks }
  }
  add('exists', 'pass', `${ad.dn}`)

  if (input.managed) add('managed', 'pass', 'krbfleet holds the record and the sealed current secret')
  else if (isManagedDescription(ad.description))
    add('managed', 'warn', 'marked as managed by krbfleet in AD, but krbfleet holds no record for it')
  else add('managed', 'warn', 'not managed by krbfleet (create it or use --adopt)')

  const uac = ad.userAccountControl
  if (uac === null) add('user-account-control', 'fail', 'userAccountControl is not readable')
  else if (!(uac & UserAccountControl.WorkstationTrustAccount))
    add('user-account-control', 'fail', `${uac}: WORKSTATION_TRUST_ACCOUNT (4096) is not set`)
  else if (uac & UserAccountControl.AccountDisable)
    add('user-account-control', 'fail', `${uac}: the account is disabled (ACCOUNTDISABLE)`)
  else if (uac & (UserAccountControl.DontRequirePreauth | UserAccountControl.UseDesKeyOnly))
    add('user-account-control', 'warn', `${uac}: DONT_REQ_PREAUTH or USE_DES_KEY_ONLY is set`)
  else add('user-account-control', 'pass', `${uac} (WORKSTATION_TRUST_ACCOUNT)`)

  const expected = input.policy.expectedEncryptionTypes
  const actual = ad.encryptionTypes
  const expectedNames = encryptionTypeNames(expected).join(', ')
  if (actual === null)
    add(
      'encryption-types',
      'fail',
      `msDS-SupportedEncryptionTypes is not set; expected ${expected} (${expectedNames})`,
    )
  else if (actual !== expected)
    add(
      'encryption-types',
      'fail',
      `${actual} (${encryptionTypeNames(actual).join(', ')}); expected ${expected} (${expectedNames})`,
    )
  else add('encryption-types', 'pass', `${actual} (${expectedNames})`)

  const max = input.policy.maxPasswordAgeDays
  if (ad.passwordLastSet === null)
    add('password-age', 'fail', 'the password has never been set (pwdLastSet = 0)')
  else {
    const ageDays = (input.policy.now.getTime() - ad.passwordLastSet.getTime()) / dayMs
    const shown = `${ageDays.toFixed(1)} days (set ${ad.passwordLastSet.toISOString()}; policy ${max} days)`
    if (ageDays > max) add('password-age', 'fail', `${shown}: rotation is overdue`)
    else if (ageDays > max * 0.9) add('password-age', 'warn', `${shown}: rotation is due soon`)
    else add('password-age', 'pass', shown)
  }

  if (!input.managed) add('secret-kvno', 'unknown', 'krbfleet holds no secret for this account')
  else if (input.pendingSince !== null)
    add(
      'secret-kvno',
      'warn',
      `a password write started ${input.pendingSince} has an unknown outcome (the DC did not answer in time) and is being reconciled from AD's kvno (now ${ad.kvno ?? 'unreadable'}); test again in a minute: no reset or adopt is needed`,
    )
  else if (ad.kvno === null) add('secret-kvno', 'fail', 'msDS-KeyVersionNumber is not readable')
  else if (input.secretKvno !== ad.kvno)
    add(
      'secret-kvno',
      'fail',
      `AD is at kvno ${ad.kvno} but krbfleet's secret is for kvno ${input.secretKvno}: the password was changed outside krbfleet; reset it`,
    )
  else add('secret-kvno', 'pass', `kvno ${ad.kvno}`)

  if (input.desiredSpns === null) {
    add(
      'spns',
      'unknown',
      `spn-sync did not answer; present: ${ad.servicePrincipalNames.join(', ') || 'none'}`,
    )
  } else {
    const present = new Set(ad.servicePrincipalNames.map((s) => s.toLowerCase()))
    const desired = new Set(input.desiredSpns.map((s) => s.toLowerCase()))
    const missing = input.desiredSpns.filter((s) => !present.has(s.toLowerCase()))
    const extra = ad.servicePrincipalNames.filter((s) => !desired.has(s.toLowerCase()))
    if (missing.length > 0) add('spns', 'fail', `missing: ${missing.join(', ')}`)
    else if (extra.length > 0)
      add(
        'spns',
        'warn',
        `all ${desired.size} desired SPNs present; not managed by krbfleet: ${extra.join(', ')}`,
      )
    else add('spns', 'pass', `${desired.size} desired SPNs present`)
  }

  return { account: input.account, outcome: worstStatus(checks.map((c) => c.status)), checks }
}
