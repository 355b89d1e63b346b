import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { KrbfleetError } from '@krbfleet/contracts'
import { canonicalSpn, SpnSet } from '../src/domain/index.ts'

describe('SPN names', () => {
  it('canonicalSpn lower-cases the host and keeps port and service name', () => {
    assert.equal(canonicalSpn(' HTTP/Pool01.CORP.example.com '), 'HTTP/pool01.corp.example.com')
    assert.equal(canonicalSpn('MSSQLSvc/Db.corp:1433'), 'MSSQLSvc/db.corp:1433')
    assert.equal(canonicalSpn('ldap/dc1.corp/corp.example.com'), 'ldap/dc1.corp/corp.example.com')
  })

  it('rejects what is not an SPN, naming the field and the rule', () => {
    for (const bad of ['', 'HTTP', 'HTTP/', '/host', 'HTTP/a b', 'HTTP/x:0', 'HTTP/x:99999', 'HT TP/x']) {
      assert.throws(
        () => canonicalSpn(bad, 'query.spn'),
        (err: unknown) =>
          err instanceof KrbfleetError && err.field === 'query.spn' && err.code === 'rule_violation',
        bad,
      )
    }
  })

  it('SpnSet compares case-insensitively and keeps the first spelling', () => {
    const set = new SpnSet(['HTTP/Web.Corp', 'http/web.corp', 'HTTP/other'])
    assert.equal(set.size, 2)
    assert.equal(set.get('HTTP/WEB.CORP'), 'HTTP/Web.Corp')
    assert.deepEqual(set.minus(['HTTP/OTHER']).sorted(), ['HTTP/Web.Corp'])
    assert.ok(set.equals(new SpnSet(['http/other', 'HTTP/WEB.corp'])))
  })
})
