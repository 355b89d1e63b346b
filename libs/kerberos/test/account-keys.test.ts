import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ValidationError } from '@krbfleet/contracts'
import {
  adComputerSalt,
  computerPrincipal,
  deriveAccountKeys,
  EncType,
  formatPrincipal,
  stringToKey,
} from '../src/index.ts'

const account = { realm: 'CORP.EXAMPLE.COM', samAccountName: 'KERBAUTH$', dnsDomain: 'corp.example.com' }

describe('AD computer account salt (MS-KILE 3.1.1.2)', () => {
  test('REALM + "host" + lowercase name without $ + "." + lowercase DNS domain', () => {
    assert.equal(adComputerSalt(account), 'CORP.EXAMPLE.COMhostkerbauth.corp.example.com')
  })

  test('the $ is optional and case is normalised on each part', () => {
    assert.equal(
      adComputerSalt({
        realm: 'corp.example.com',
        samAccountName: 'KerbAuth',
        dnsDomain: 'CORP.Example.COM',
      }),
      'CORP.EXAMPLE.COMhostkerbauth.corp.example.com',
    )
    assert.equal(
      computerPrincipal({ realm: 'corp.example.com', samAccountName: 'KERBAUTH' }),
      'KERBAUTH$@CORP.EXAMPLE.COM',
    )
  })

  test('bad names are refused naming every field', () => {
    assert.throws(
      () => adComputerSalt({ realm: 'CORP EXAMPLE', samAccountName: 'MUCHTOOLONGNAME16$', dnsDomain: '' }),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError)
        assert.deepEqual(
          err.issues.map((i) => i.field),
          ['realm', 'samAccountName', 'dnsDomain'],
        )
        return true
      },
    )
  })
})

describe('deriveAccountKeys', () => {
  test('one entry per enctype for NAME$@REALM, salted the AD way, aes256 first', () => {
    const entries = deriveAccountKeys({
      ...account,
      password: 'S3cret!pw',
      kvno: 3,
      timestamp: 1_700_000_000,
    })
    assert.deepEqual(
      entries.map((e) => [
        formatPrincipal(e.principal),
        e.principal.nameType,
        e.kvno,
        e.enctype,
        e.timestamp,
      ]),
      [
        ['KERBAUTH$@CORP.EXAMPLE.COM', 1, 3, 18, 1_700_000_000],
        ['KERBAUTH$@CORP.EXAMPLE.COM', 1, 3, 17, 1_700_000_000],
      ],
    )
    const salt = 'CORP.EXAMPLE.COMhostkerbauth.corp.example.com'
    assert.deepEqual(entries[0]?.key, stringToKey(EncType.Aes256CtsHmacSha196, 'S3cret!pw', salt))
    assert.deepEqual(entries[1]?.key, stringToKey(EncType.Aes128CtsHmacSha196, 'S3cret!pw', salt))
  })

  test('a chosen enctype list, duplicates collapsed', () => {
    const entries = deriveAccountKeys({ ...account, password: 'x', kvno: 1, enctypes: [17, 17] })
    assert.deepEqual(
      entries.map((e) => e.enctype),
      [17],
    )
  })

  test('bad input is refused naming the field', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ password: '' }, 'password'],
      [{ kvno: -1 }, 'kvno'],
      [{ kvno: 2 ** 32 }, 'kvno'],
      [{ enctypes: [] }, 'enctypes'],
      [{ enctypes: [23] }, 'enctypes.0'],
      [{ samAccountName: 'a b' }, 'samAccountName'],
    ]
    for (const [change, field] of cases) {
      assert.throws(
        () => deriveAccountKeys({ ...account, password: 'pw', kvno: 2, ...change } as never),
        (err: unknown) => err instanceof ValidationError && err.field === field,
        field,
      )
    }
  })
})
