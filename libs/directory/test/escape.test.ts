import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  AndFilter,
  BerReader,
  BerWriter,
  EqualityFilter,
  FilterParser,
  OrFilter,
  SubstringFilter,
} from 'ldapts'
import {
  escapeDnValue,
  escapeFilterValue,
  filter,
  formatDn,
  parseDn,
  renderFilter,
  toLdaptsFilter,
} from '../src/index.ts'

/** Strings rich in the characters that matter to filters and DNs. */
const tricky = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      '*',
      '(',
      ')',
      '\\',
      '\0',
      ',',
      '+',
      '"',
      '<',
      '>',
      ';',
      '=',
      '#',
      ' ',
      '\n',
      '\r',
      'é',
      '😀',
    ),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  ),
  minLength: 1,
})

describe('escapeFilterValue (RFC 4515)', () => {
  it('escapes the examples of RFC 4515 section 4', () => {
    assert.equal(
      `(cn=${escapeFilterValue('Parens R Us (for all your parenthetical needs)')})`,
      '(cn=Parens R Us \\28for all your parenthetical needs\\29)',
    )
    assert.equal(`(cn=*${escapeFilterValue('*')}*)`, '(cn=*\\2a*)')
    assert.equal(`(filename=${escapeFilterValue('C:\\MyFile')})`, '(filename=C:\\5cMyFile)')
    assert.equal(`(bin=${escapeFilterValue(Uint8Array.from([0, 0, 0, 4]))})`, '(bin=\\00\\00\\00\\04)')
    assert.equal(escapeFilterValue('a\0b'), 'a\\00b')
  })

  it('turns an injection attempt into a literal value', () => {
    assert.equal(renderFilter(filter.eq('cn', '*)(objectClass=*')), '(cn=\\2a\\29\\28objectClass=\\2a)')
    const parsed = FilterParser.parseString(renderFilter(filter.eq('cn', '*)(objectClass=*')))
    assert.ok(parsed instanceof EqualityFilter)
    assert.equal(parsed.value, '*)(objectClass=*')
  })

  it('property: an escaped value never changes the structure of the filter around it', () => {
    fc.assert(
      fc.property(tricky, tricky, (a, b) => {
        const text = renderFilter(
          filter.and(filter.eq('cn', a), filter.or(filter.eq('sn', b), filter.present('uid'))),
        )
        const parsed = FilterParser.parseString(text)
        assert.ok(parsed instanceof AndFilter)
        assert.equal(parsed.filters.length, 2)
        const [eq, or] = parsed.filters
        assert.ok(eq instanceof EqualityFilter)
        assert.equal(eq.attribute, 'cn')
        assert.equal(eq.value, a)
        assert.ok(or instanceof OrFilter)
        assert.equal(or.filters.length, 2)
        const inner = or.filters[0]
        assert.ok(inner instanceof EqualityFilter)
        assert.equal(inner.value, b)
      }),
      { numRuns: 500 },
    )
  })

  it('property: a startsWith prefix is a literal prefix, whatever it holds', () => {
    fc.assert(
      fc.property(tricky, (prefix) => {
        const parsed = FilterParser.parseString(
          renderFilter(filter.startsWith('servicePrincipalName', prefix)),
        )
        assert.ok(parsed instanceof SubstringFilter)
        assert.equal(parsed.initial, prefix)
        assert.deepEqual(parsed.any, [])
      }),
    )
  })

  it('property: the BER form sent to the DC carries the value untouched', () => {
    fc.assert(
      fc.property(tricky, (value) => {
        const writer = new BerWriter()
        toLdaptsFilter(filter.eq('sAMAccountName', value)).write(writer)
        const reader = new BerReader(writer.buffer)
        reader.readSequence()
        const parsed = new EqualityFilter()
        parsed.parse(reader)
        assert.equal(parsed.value, value)
      }),
    )
  })

  it('refuses attribute names that are not names or OIDs', () => {
    assert.throws(() => filter.eq('cn)(uid', 'x'), { code: 'invalid', field: 'attribute' })
    assert.throws(() => filter.present('*'), /LDAP attribute name/)
    assert.doesNotThrow(() => filter.eq('1.2.840.113556.1.4.803', 'x'))
    assert.doesNotThrow(() => filter.eq('userCertificate;binary', 'x'))
  })

  it('accepts no raw filter string, even from untyped callers', () => {
    assert.throws(() => toLdaptsFilter('(cn=*)' as never), { code: 'invalid', field: 'filter' })
    assert.throws(() => toLdaptsFilter({ kind: 'raw', text: '(cn=*)' } as never), {
      code: 'invalid',
      field: 'filter',
    })
  })

  it('renders the AD bitwise matching rule', () => {
    assert.equal(
      renderFilter(filter.bitAnd('userAccountControl', 4096)),
      '(userAccountControl:1.2.840.113556.1.4.803:=4096)',
    )
    assert.throws(() => filter.bitAnd('userAccountControl', -1), { code: 'invalid' })
  })
})

describe('escapeDnValue (RFC 4514)', () => {
  it('escapes the examples of RFC 4514 section 4', () => {
    assert.equal(
      `CN=${escapeDnValue('James "Jim" Smith, III')},DC=example,DC=net`,
      'CN=James \\"Jim\\" Smith\\, III,DC=example,DC=net',
    )
    assert.equal(escapeDnValue('Before\rAfter'), 'Before\\0dAfter')
    assert.equal(escapeDnValue('a+b'), 'a\\+b')
  })

  it('escapes every special character, a leading # or space and a trailing space', () => {
    assert.equal(escapeDnValue('a,b+c"d\\e<f>g;h=i'), 'a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i')
    assert.equal(escapeDnValue('#x'), '\\#x')
    assert.equal(escapeDnValue('x#'), 'x#')
    assert.equal(escapeDnValue(' x '), '\\ x\\ ')
    assert.equal(escapeDnValue('a b'), 'a b')
    assert.equal(escapeDnValue('a\nb\0'), 'a\\0ab\\00')
  })

  it('a value ending in a space and a special character (which Samba 4.17 mishandles) is escaped per RFC 4514', () => {
    for (const [value, escaped] of [
      [', ,', '\\, \\,'],
      ['x ,', 'x \\,'],
      ['ab +', 'ab \\+'],
    ] as const) {
      assert.equal(escapeDnValue(value), escaped)
      assert.deepEqual(parseDn(`OU=${escaped},DC=corp,DC=example,DC=com`)[0], [{ type: 'OU', value }])
    }
  })

  it('property: any value round-trips through escapeDnValue and parseDn without changing the DN structure', () => {
    fc.assert(
      fc.property(tricky, tricky, (a, b) => {
        const dn = `CN=${escapeDnValue(a)},OU=${escapeDnValue(b)},DC=corp,DC=example,DC=com`
        const rdns = parseDn(dn)
        assert.equal(rdns.length, 5)
        assert.deepEqual(rdns[0], [{ type: 'CN', value: a }])
        assert.deepEqual(rdns[1], [{ type: 'OU', value: b }])
        assert.equal(formatDn(rdns), dn)
      }),
      { numRuns: 500 },
    )
  })
})
