import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { KrbfleetError, parseAccountName } from '@krbfleet/contracts'
import { encodeUnicodePwd, isDnUnder, parseDn } from '@krbfleet/directory'
import fc from 'fast-check'
import {
  accountDn,
  accountInDomain,
  baseDnOfDnsDomain,
  DEFAULT_ENCRYPTION_TYPES,
  type DomainInfo,
  encryptionTypeNames,
  fileTimeToDate,
  isManagedDescription,
  isUsableEncryptionTypes,
  newAccountAttributes,
  parseEncryptionTypes,
  resolveContainerDn,
} from '../src/domain/account.ts'
import { testAccount, type TestAccountInput } from '../src/domain/checks.ts'
import { generatePassword, MIN_PASSWORD_LENGTH, PASSWORD_ALPHABET } from '../src/domain/password.ts'
import {
  type AccountRecord,
  AccountRecordCodec,
  abandonSecret,
  beginSecret,
  confirmSecret,
  isRemovalTarget,
  resolvePending,
} from '../src/domain/record.ts'
import { kerbauthInput } from './fixtures/record.ts'

const domain: DomainInfo = {
  netbiosDomain: 'CORP',
  dnsDomain: 'corp.example.com',
  baseDn: 'DC=corp,DC=example,DC=com',
}

function codeOf(fn: () => unknown): { code: string; field: string | undefined; message: string } {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof KrbfleetError, `expected a KrbfleetError, got ${err}`)
    return { code: err.code, field: err.field, message: err.message }
  }
  assert.fail('expected an error')
}

describe('account naming', () => {
  it('given CORP\\kerbauth, when checked against the domain, then it is canonical', () => {
    const a = accountInDomain('corp\\kerbauth', domain)
    assert.equal(a.id, 'CORP\\KERBAUTH')
    assert.equal(a.samAccountName, 'KERBAUTH$')
  })
  it('given another domain, then it is a rule violation naming the field', () => {
    const e = codeOf(() => accountInDomain('OTHER\\KERBAUTH', domain))
    assert.equal(e.code, 'rule_violation')
    assert.equal(e.field, 'account')
    assert.match(e.message, /not the domain this service manages/)
  })
  it('given malformed or too long names, then a clear error', () => {
    assert.match(codeOf(() => accountInDomain('KERBAUTH', domain)).message, /DOMAIN\\NAME/)
    assert.match(codeOf(() => accountInDomain('CORP\\ABCDEFGHIJKLMNOP', domain)).message, /at most 15/)
    assert.match(codeOf(() => accountInDomain('CORP\\a b', domain)).message, /only letters/)
  })
})

describe('container DN', () => {
  it('defaults to the Computers container', () => {
    assert.equal(resolveContainerDn(undefined, domain), 'CN=Computers,DC=corp,DC=example,DC=com')
  })
  it('accepts an OU inside the domain, case-insensitively', () => {
    assert.equal(
      resolveContainerDn('OU=Web Pools, dc=CORP,dc=example,dc=com', domain),
      'OU=Web Pools,dc=CORP,dc=example,dc=com',
    )
  })
  it('refuses a DN outside the domain', () => {
    const e = codeOf(() => resolveContainerDn('OU=Web,DC=other,DC=com', domain))
    assert.equal(e.code, 'rule_violation')
    assert.equal(e.field, 'containerDn')
  })
  it('refuses DNs that do not parse', () => {
    for (const bad of [
      '',
      'OU',
      'OU=,DC=corp',
      'OU=a,',
      '=x',
      'OU=a"b,DC=corp',
      'OU=a+CN=b,DC=x',
      'O U=a',
      'OU=a\\q',
    ]) {
      const e = codeOf(() => resolveContainerDn(bad, domain))
      assert.equal(e.code, 'invalid', bad)
      assert.equal(e.field, 'containerDn')
    }
  })
  it('parses escapes (RFC 4514) with the directory library and refuses hex values', () => {
    const dn = resolveContainerDn('OU=a\\,b,OU=\\23x,OU=caf\\C3\\A9,DC=corp,DC=example,DC=com', domain)
    assert.deepEqual(
      parseDn(dn)
        .slice(0, 3)
        .map((rdn) => rdn[0]?.value),
      ['a,b', '#x', 'café'],
    )
    const e = codeOf(() => resolveContainerDn('OU=#04016,DC=corp,DC=example,DC=com', domain))
    assert.equal(e.code, 'invalid')
    assert.equal(e.field, 'containerDn')
  })
  it('has no DN parser of its own: the library one is used', async () => {
    const { readdir } = await import('node:fs/promises')
    assert.ok(!(await readdir(new URL('../src/domain/', import.meta.url))).includes('dn.ts'))
  })
  it('any text either resolves inside the domain or fails with a KrbfleetError naming containerDn', () => {
    const pieces = fc.constantFrom(
      'OU=',
      'CN=',
      'DC=',
      ',',
      '\\',
      '\\2C',
      '+',
      '"',
      '=',
      ' ',
      '#',
      'corp',
      'example',
      'com',
    )
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(pieces, { maxLength: 12 }).map((p) => p.join('')),
        ),
        (value) => {
          try {
            const dn = resolveContainerDn(value, domain)
            assert.ok(isDnUnder(dn, domain.baseDn))
          } catch (err) {
            assert.ok(err instanceof KrbfleetError, String(err))
            assert.equal(err.field, 'containerDn')
          }
        },
      ),
      { numRuns: 2000 },
    )
  })
  it('inside the domain compares whole RDNs, not string suffixes', () => {
    assert.equal(
      resolveContainerDn('OU=x,DC=corp,DC=example,DC=com', domain),
      'OU=x,DC=corp,DC=example,DC=com',
    )
    assert.equal(
      codeOf(() => resolveContainerDn('DC=xcorp,DC=example,DC=com', domain)).code,
      'rule_violation',
    )
  })
  it('builds the base DN and the account DN', () => {
    assert.equal(baseDnOfDnsDomain('Corp.Example.com'), 'DC=corp,DC=example,DC=com')
    assert.equal(
      accountDn(parseAccountName('CORP\\KERBAUTH'), 'OU=Web,DC=corp,DC=example,DC=com'),
      'CN=KERBAUTH,OU=Web,DC=corp,DC=example,DC=com',
    )
  })
})

describe('new account attributes', () => {
  it('is a workstation trust account with AES only and the managed marker', () => {
    const attrs = newAccountAttributes(parseAccountName('CORP\\KerbAuth'), domain, DEFAULT_ENCRYPTION_TYPES)
    assert.deepEqual(attrs, {
      objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
      sAMAccountName: 'KERBAUTH$',
      userAccountControl: '4096',
      dNSHostName: 'kerbauth.corp.example.com',
      description: 'Managed by krbfleet: Kerberos account for web pools; do not edit',
      'msDS-SupportedEncryptionTypes': '24',
    })
    assert.equal(isManagedDescription(attrs.description), true)
    assert.equal(isManagedDescription('something else'), false)
  })
  it('gets unicodePwd as quoted UTF-16LE (MS-ADTS 3.1.1.3.1.5.1) from the directory library', () => {
    assert.deepEqual(encodeUnicodePwd('ab'), Buffer.from([0x22, 0, 0x61, 0, 0x62, 0, 0x22, 0]))
  })
})

describe('encryption types', () => {
  it('parses words and numbers', () => {
    assert.equal(parseEncryptionTypes('aes'), 24)
    assert.equal(parseEncryptionTypes('aes256'), 16)
    assert.equal(parseEncryptionTypes('AES128, aes256'), 24)
    assert.equal(parseEncryptionTypes('rc4,aes'), 28)
    assert.equal(parseEncryptionTypes(24), 24)
    assert.equal(parseEncryptionTypes('8'), 8)
    assert.deepEqual(encryptionTypeNames(24), ['aes128-cts-hmac-sha1-96', 'aes256-cts-hmac-sha1-96'])
  })
  it('knows which existing values krbfleet can serve (adopt keeps those)', () => {
    assert.equal(isUsableEncryptionTypes(24), true)
    assert.equal(isUsableEncryptionTypes(28), true)
    assert.equal(isUsableEncryptionTypes(4), false)
    assert.equal(isUsableEncryptionTypes(0x1f), false)
  })
  it('refuses DES, no AES, unknown words and out-of-range numbers', () => {
    assert.match(codeOf(() => parseEncryptionTypes(3 | 16)).message, /DES/)
    assert.match(codeOf(() => parseEncryptionTypes('rc4')).message, /AES/)
    assert.match(
      codeOf(() => parseEncryptionTypes('blowfish')).message,
      /'blowfish' is not an encryption type/,
    )
    assert.equal(codeOf(() => parseEncryptionTypes(32)).field, 'encryptionTypes')
    assert.equal(codeOf(() => parseEncryptionTypes(' , ')).code, 'invalid')
  })
})

describe('passwords', () => {
  it('are at least 64 characters from the safe alphabet, and differ', () => {
    const a = generatePassword(randomBytes)
    const b = generatePassword(randomBytes, 64)
    assert.ok(a.length >= MIN_PASSWORD_LENGTH)
    assert.equal(b.length, 64)
    assert.notEqual(a, b)
    for (const c of a + b) assert.ok(PASSWORD_ALPHABET.includes(c))
    assert.ok(!PASSWORD_ALPHABET.includes('"') && !PASSWORD_ALPHABET.includes('\\'))
    assert.throws(() => generatePassword(randomBytes, 63), /at least 64/)
  })
  it('the module comment states the alphabet size and entropy that the code has', async () => {
    // A stated entropy must be the one the alphabet gives, or operators size passwords wrongly.
    const size = new Set(PASSWORD_ALPHABET).size
    assert.equal(size, PASSWORD_ALPHABET.length, 'symbols are distinct')
    const source = await readFile(new URL('../src/domain/password.ts', import.meta.url), 'utf8')
    assert.match(source, new RegExp(`\\b${size} distinct symbols`))
    const bits = Math.floor(MIN_PASSWORD_LENGTH * Math.log2(size))
    assert.match(source, new RegExp(`about ${bits} bits`))
    assert.ok(bits >= 256)
  })
  it('skip biased bytes (rejection sampling)', () => {
    // Bytes >= the largest multiple of the alphabet size must never be used.
    const size = PASSWORD_ALPHABET.length
    const limit = 256 - (256 % size)
    let calls = 0
    const source = (n: number) => {
      calls++
      return calls === 1 ? new Uint8Array(n).fill(255) : new Uint8Array(n).fill(limit - 1)
    }
    if (limit < 256)
      assert.equal(generatePassword(source, 64), PASSWORD_ALPHABET[(limit - 1) % size]!.repeat(64))
  })
})

describe('pwdLastSet', () => {
  it('converts FILETIME; 0 is never', () => {
    assert.equal(fileTimeToDate('0'), null)
    assert.equal(fileTimeToDate('116444736000000000')?.toISOString(), '1970-01-01T00:00:00.000Z')
    assert.equal(fileTimeToDate('133000000000000000')?.toISOString(), '2022-06-18T04:26:40.000Z')
  })
})

describe('test account checks', () => {
  const now = new Date('2026-01-31T00:00:00Z')
  const healthy = (): TestAccountInput => ({
    account: 'CORP\\KERBAUTH',
    directory: {
      dn: 'CN=KERBAUTH,CN=Computers,DC=corp,DC=example,DC=com',
      description: 'Managed by krbfleet: x',
      userAccountControl: 4096,
      encryptionTypes: 24,
      passwordLastSet: new Date('2026-01-21T00:00:00Z'),
      kvno: 3,
      servicePrincipalNames: ['HTTP/pool01.corp.example.com'],
    },
    secretKvno: 3,
    pendingSince: null,
    managed: true,
    policy: { expectedEncryptionTypes: 24, maxPasswordAgeDays: 30, now },
    desiredSpns: ['http/POOL01.corp.example.com'],
  })
  const statusOf = (input: TestAccountInput, check: string) =>
    testAccount(input).checks.find((c) => c.check === check)?.status

  it('given a healthy account, then every check passes', () => {
    const report = testAccount(healthy())
    assert.equal(report.outcome, 'pass', JSON.stringify(report))
    assert.deepEqual(
      report.checks.map((c) => c.check),
      [
        'exists',
        'managed',
        'user-account-control',
        'encryption-types',
        'password-age',
        'secret-kvno',
        'spns',
      ],
    )
  })
  it('given a pending write of unknown outcome, then secret-kvno says it is being reconciled, not to reset', () => {
    // AD moved to kvno 4 while KV's confirmed secret is for 3: the write in flight, not an outside change.
    const h = healthy()
    const report = testAccount({
      ...h,
      directory: { ...h.directory!, kvno: 4 },
      pendingSince: '2026-01-30T23:59:00.000Z',
    })
    const check = report.checks.find((c) => c.check === 'secret-kvno')
    assert.equal(check?.status, 'warn')
    assert.match(check?.detail ?? '', /started 2026-01-30T23:59:00.000Z .*being reconciled/)
    assert.match(check?.detail ?? '', /no reset or adopt is needed/)
    assert.doesNotMatch(check?.detail ?? '', /changed outside krbfleet/)
  })
  it('given a missing account, then only exists fails', () => {
    const report = testAccount({ ...healthy(), directory: null })
    assert.equal(report.outcome, 'fail')
    assert.equal(report.checks.length, 1)
  })
  it('given wrong UAC, enc types, an old password, a stale secret or a missing SPN, then fail', () => {
    const h = healthy()
    const d = h.directory!
    assert.equal(
      statusOf({ ...h, directory: { ...d, userAccountControl: 4098 } }, 'user-account-control'),
      'fail',
    )
    assert.equal(
      statusOf({ ...h, directory: { ...d, userAccountControl: 512 } }, 'user-account-control'),
      'fail',
    )
    assert.equal(statusOf({ ...h, directory: { ...d, encryptionTypes: 28 } }, 'encryption-types'), 'fail')
    assert.equal(statusOf({ ...h, directory: { ...d, encryptionTypes: null } }, 'encryption-types'), 'fail')
    assert.equal(
      statusOf(
        { ...h, directory: { ...d, passwordLastSet: new Date('2025-12-01T00:00:00Z') } },
        'password-age',
      ),
      'fail',
    )
    assert.equal(
      statusOf(
        { ...h, directory: { ...d, passwordLastSet: new Date('2025-01-04T00:00:00Z') } },
        'password-age',
      ),
      'fail',
    )
    assert.equal(
      statusOf(
        { ...h, directory: { ...d, passwordLastSet: new Date('2026-01-03T00:00:00Z') } },
        'password-age',
      ),
      'warn',
    )
    assert.equal(statusOf({ ...h, secretKvno: 2 }, 'secret-kvno'), 'fail')
    assert.equal(statusOf({ ...h, directory: { ...d, servicePrincipalNames: [] } }, 'spns'), 'fail')
    assert.equal(testAccount({ ...h, directory: { ...d, servicePrincipalNames: [] } }).outcome, 'fail')
  })
  it('given spn-sync did not answer, then spns is unknown', () => {
    const report = testAccount({ ...healthy(), desiredSpns: null })
    assert.equal(report.checks.find((c) => c.check === 'spns')?.status, 'unknown')
    assert.equal(report.outcome, 'unknown')
  })
  it('given extra SPNs or an unmanaged account, then warn', () => {
    const h = healthy()
    assert.equal(
      statusOf(
        {
          ...h,
          directory: { ...h.directory!, servicePrincipalNames: ['HTTP/pool01.corp.example.com', 'HOST/x'] },
        },
        'spns',
      ),
      'warn',
    )
    assert.equal(testAccount({ ...h, managed: false, secretKvno: null }).outcome, 'warn')
  })
})

describe('account record saga', () => {
  const input = kerbauthInput
  const t0 = new Date('2026-01-01T00:00:00Z')
  const t1 = new Date('2026-01-02T00:00:00Z')

  it('given a create, when pending then confirmed, then the secret is current with the kvno', () => {
    const pending = beginSecret(null, input, 'sealed-1', 'create', null, t0)
    assert.equal(pending.secret, null)
    assert.equal(pending.pending?.sealed, 'sealed-1')
    AccountRecordCodec.decode(pending)
    const done = confirmSecret(pending, 1, t1)
    assert.deepEqual(done.secret, { sealed: 'sealed-1', kvno: 1, setAt: t1.toISOString() })
    assert.equal(done.pending, null)
    assert.equal(done.createdAt, t0.toISOString())
    AccountRecordCodec.decode(done)
  })
  it('given a failed reset, when abandoned, then the old secret stays', () => {
    const done = confirmSecret(beginSecret(null, input, 's1', 'create', null, t0), 1, t0)
    const pending = beginSecret(done, input, 's2', 'reset', 1, t1)
    assert.equal(abandonSecret(pending, t1).secret?.sealed, 's1')
    assert.equal(abandonSecret(pending, t1).pending, null)
  })
  it('resolves a pending secret after a crash from the kvno in AD', () => {
    const created = beginSecret(null, input, 's1', 'create', null, t0)
    assert.deepEqual(resolvePending(created, null), { action: 'delete' })
    assert.deepEqual(resolvePending(created, 1), { action: 'confirm', kvno: 1 })
    const current: AccountRecord = confirmSecret(created, 1, t0)
    assert.deepEqual(resolvePending(current, 1), { action: 'none' })
    const reset = beginSecret(current, input, 's2', 'reset', 1, t1)
    assert.deepEqual(resolvePending(reset, 1), { action: 'abandon' })
    assert.deepEqual(resolvePending(reset, 2), { action: 'confirm', kvno: 2 })
    assert.deepEqual(resolvePending(reset, null), { action: 'abandon' })
  })
  it('given a record whose removal is decided, when a new secret begins, then it is a retryable conflict', () => {
    const current = confirmSecret(beginSecret(null, input, 's1', 'create', null, t0), 1, t0, { id: 'owed' })
    const removing: AccountRecord = {
      ...current,
      removing: true,
      removalTarget: { dn: input.dn, objectGuid: 'ab' },
    }
    for (const operation of ['create', 'adopt', 'reset'] as const) {
      const error = codeOf(() => beginSecret(removing, input, 's2', operation, 1, t1))
      assert.equal(error.code, 'conflict')
      assert.equal(error.field, 'account')
      assert.match(error.message, /removal .* not finished/)
    }
  })
  it('given no record (a new life), then a new createdAt and no outbox; continuing keeps both', () => {
    const old = confirmSecret(beginSecret(null, input, 's1', 'create', null, t0), 1, t0, { id: 'owed' })
    const fresh = beginSecret(null, input, 's2', 'create', null, t1)
    assert.equal(fresh.createdAt, t1.toISOString())
    assert.equal(fresh.outbox, undefined)
    assert.equal(fresh.secret, null)
    const continued = beginSecret(old, input, 's2', 'reset', 1, t1)
    assert.equal(continued.createdAt, t0.toISOString())
    assert.deepEqual(continued.outbox, [{ id: 'owed' }])
  })
  it('the pending actor and correlation id have the envelope limits (256 / 64)', () => {
    const ok = beginSecret(null, input, 's', 'create', null, t0, {
      actor: 'a'.repeat(256),
      correlationId: 'c'.repeat(64),
    })
    AccountRecordCodec.decode(ok)
    for (const caller of [{ actor: 'a'.repeat(257) }, { actor: 'user:x', correlationId: 'c'.repeat(65) }]) {
      assert.equal(
        codeOf(() => AccountRecordCodec.decode(beginSecret(null, input, 's', 'create', null, t0, caller)))
          .code,
        'invalid',
      )
    }
  })
  it('a decided removal targets only the object it saw: same DN (any case) and same objectGUID', () => {
    const base = confirmSecret(beginSecret(null, input, 's1', 'create', null, t0), 1, t0)
    const target = { ...base, removing: true, removalTarget: { dn: input.dn, objectGuid: 'aa11' } }
    assert.equal(isRemovalTarget(target, { dn: input.dn.toUpperCase(), objectGuid: 'aa11' }), true)
    assert.equal(isRemovalTarget(target, { dn: input.dn, objectGuid: 'bb22' }), false, 'a later object')
    assert.equal(
      isRemovalTarget(target, { dn: input.dn, objectGuid: null }),
      false,
      'GUID unknown: left alone',
    )
    assert.equal(
      isRemovalTarget(target, { dn: `CN=KERBAUTH,OU=Web,${domain.baseDn}`, objectGuid: 'aa11' }),
      false,
    )
    const sawNothing = { ...base, removing: true, removalTarget: null }
    assert.equal(isRemovalTarget(sawNothing, { dn: input.dn, objectGuid: 'aa11' }), false)
    const legacy = { ...base, removing: true }
    assert.equal(
      isRemovalTarget(legacy, { dn: input.dn, objectGuid: 'aa11' }),
      true,
      'older records: their DN',
    )
    assert.equal(isRemovalTarget(legacy, { dn: `CN=X,${domain.baseDn}` }), false)
  })
})
