import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ValidationError } from '@krbfleet/contracts'
import {
  childDn,
  dnEquals,
  formatDn,
  isDnUnder,
  normalizeDn,
  parentDn,
  parseDn,
  rdnValue,
} from '../src/index.ts'

function rule(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ValidationError, 'a ValidationError')
    return err.issues.map((i) => `${i.field}: ${i.rule}`).join('; ')
  }
  assert.fail('expected a ValidationError')
}

describe('parseDn', () => {
  it('parses the examples of RFC 4514 section 4', () => {
    assert.deepEqual(parseDn('UID=jsmith,DC=example,DC=net'), [
      [{ type: 'UID', value: 'jsmith' }],
      [{ type: 'DC', value: 'example' }],
      [{ type: 'DC', value: 'net' }],
    ])
    assert.deepEqual(parseDn('OU=Sales+CN=J.  Smith,DC=example,DC=net')[0], [
      { type: 'OU', value: 'Sales' },
      { type: 'CN', value: 'J.  Smith' },
    ])
    assert.equal(
      parseDn('CN=James \\"Jim\\" Smith\\, III,DC=example,DC=net')[0]?.[0]?.value,
      'James "Jim" Smith, III',
    )
    assert.equal(parseDn('CN=Before\\0dAfter,DC=example,DC=net')[0]?.[0]?.value, 'Before\rAfter')
    assert.equal(parseDn('1.3.6.1.4.1.1466.0=#04024869,DC=example,DC=com')[0]?.[0]?.value, '#04024869')
    assert.equal(parseDn('CN=Lu\\C4\\8Di\\C4\\87')[0]?.[0]?.value, 'Lučić')
  })

  it('tolerates spaces around separators and keeps escaped ones', () => {
    assert.deepEqual(parseDn('CN = a b , DC = corp'), [
      [{ type: 'CN', value: 'a b' }],
      [{ type: 'DC', value: 'corp' }],
    ])
    assert.equal(parseDn('CN=\\ a\\ ,DC=corp')[0]?.[0]?.value, ' a ')
  })

  it('the empty DN is the root DSE', () => {
    assert.deepEqual(parseDn(''), [])
  })

  it('names the part that does not parse', () => {
    assert.match(
      rule(() => parseDn('CN=a,corp')),
      /^dn: RDN 2 \("corp"\) has no '='/,
    )
    assert.match(
      rule(() => parseDn('CN=a\\')),
      /RDN 1: value ends with a lone '\\'/,
    )
    assert.match(
      rule(() => parseDn('CN=a\\zz')),
      /RDN 1: '\\z' is not an escape/,
    )
    assert.match(
      rule(() => parseDn('CN=a;b')),
      /RDN 1: ";" must be escaped/,
    )
    assert.match(
      rule(() => parseDn('CN=a,DC=')),
      /RDN 2: DC has an empty value/,
    )
    assert.match(
      rule(() => parseDn('C N=a')),
      /attribute type "C N" is not a name or OID/,
    )
    assert.match(
      rule(() => parseDn('CN=a,')),
      /ends with ","/,
    )
    assert.match(
      rule(() => parseDn('CN=\\ff\\fe')),
      /not UTF-8/,
    )
  })

  it('uses the field name it is given', () => {
    assert.match(
      rule(() => parseDn('nonsense', 'parent')),
      /^parent: /,
    )
  })
})

describe('DN helpers', () => {
  it('builds a child DN with the value escaped', () => {
    assert.equal(childDn('CN', 'a,b', 'OU=x,DC=corp'), 'CN=a\\,b,OU=x,DC=corp')
    assert.throws(() => childDn('CN', '', 'DC=corp'), { code: 'invalid' })
    assert.throws(() => childDn('CN', 'a', 'junk'), { code: 'invalid', field: 'parent' })
  })

  it('compares DNs case- and escaping-insensitively', () => {
    assert.ok(dnEquals('CN=KerbAuth,CN=Computers,DC=corp', 'cn=kerbauth, cn=computers, dc=CORP'))
    assert.ok(dnEquals('CN=a\\2cb,DC=x', 'CN=a\\,b,DC=x'))
    assert.ok(!dnEquals('CN=a,DC=x', 'CN=b,DC=x'))
    assert.equal(normalizeDn('OU=S+CN=J,DC=x'), normalizeDn('CN=J+OU=S,DC=x'))
  })

  it('finds parents and values', () => {
    assert.equal(parentDn('CN=a\\,b,OU=x,DC=corp'), 'OU=x,DC=corp')
    assert.equal(rdnValue('CN=a\\,b,OU=x,DC=corp'), 'a,b')
    assert.ok(isDnUnder('CN=a,OU=x,DC=corp', 'ou=X,dc=corp'))
    assert.ok(isDnUnder('OU=x,DC=corp', 'OU=x,DC=corp'))
    assert.ok(!isDnUnder('CN=a,OU=y,DC=corp', 'OU=x,DC=corp'))
    assert.equal(formatDn([[{ type: 'CN', value: '#a ' }]]), 'CN=\\#a\\ ')
  })
})
