import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ValidationError } from '@krbfleet/contracts'
import { deriveAccountKeys, exportAccountKeys, importAccountKeys } from '../src/index.ts'

const account = { realm: 'CORP.EXAMPLE.COM', samAccountName: 'KERBAUTH$', dnsDomain: 'corp.example.com' }

describe('portable account keys (the sealed credential form)', () => {
  test('derive -> export -> JSON -> import gives the same keytab entries', () => {
    const entries = deriveAccountKeys({ ...account, password: 'pw', kvno: 300, timestamp: 1_700_000_000 })
    const portable = exportAccountKeys(entries)
    assert.equal(portable.principal, 'KERBAUTH$@CORP.EXAMPLE.COM')
    assert.equal(portable.kvno, 300)
    assert.deepEqual(importAccountKeys(JSON.parse(JSON.stringify(portable)), 1_700_000_000), entries)
  })

  test('mixed kvnos or principals cannot be exported as one', () => {
    const a = deriveAccountKeys({ ...account, password: 'pw', kvno: 1 })
    const b = deriveAccountKeys({ ...account, password: 'pw', kvno: 2 })
    assert.throws(() => exportAccountKeys([...a, ...b]), ValidationError)
    assert.throws(() => exportAccountKeys([]), ValidationError)
  })

  test('bad portable keys are refused naming each field', () => {
    assert.throws(
      () =>
        importAccountKeys({
          principal: 'nope',
          kvno: -1,
          keys: [
            { enctype: 23, key: 'AAAA' },
            { enctype: 18, key: 'AAAA' },
          ],
        }),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError)
        assert.deepEqual(
          err.issues.map((i) => i.field),
          ['principal', 'kvno', 'keys.0.enctype', 'keys.1.key'],
        )
        return true
      },
    )
  })
})
