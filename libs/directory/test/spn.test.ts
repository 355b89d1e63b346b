import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { defaultSpnMappings, parseSpn, parseSpnMappings, spnConflictCandidates } from '../src/index.ts'

describe('SPNs', () => {
  it('parses serviceclass/host[:port][/servicename]', () => {
    assert.deepEqual(parseSpn('HTTP/pool01.corp.example.com'), {
      serviceClass: 'HTTP',
      host: 'pool01.corp.example.com',
    })
    assert.deepEqual(parseSpn('HTTP/pool01:8443'), { serviceClass: 'HTTP', host: 'pool01', port: 8443 })
    assert.deepEqual(parseSpn('ldap/dc1.corp/corp.example.com'), {
      serviceClass: 'ldap',
      host: 'dc1.corp',
      serviceName: 'corp.example.com',
    })
  })

  it('refuses malformed SPNs naming the field', () => {
    for (const bad of ['', 'HTTP', '/host', 'HTTP/', 'HTTP/a b', 'HTTP/x:0', 'HTTP/x:99999', 'HTTP/x\n']) {
      assert.throws(() => parseSpn(bad, 'spns.3'), { code: 'invalid', field: 'spns.3' }, JSON.stringify(bad))
    }
  })

  it('given the stricter rules of an SPN, when a value breaks one, then it is refused as invalid', () => {
    const refused = [
      ' HTTP/pool01', // not trimmed: a stray space is never written
      'HTTP/pool01 ',
      '-HTTP/pool01', // a service class starts with a letter or digit
      'HTTP/höst.corp', // host in DNS-name characters
      'HTTP/pool01/a/b', // no slash inside the service name
      'HTTP/pool01/a\u0001b', // no control character anywhere
      `HTTP/${'a'.repeat(520)}`, // longer than any real SPN
    ]
    for (const bad of refused) {
      assert.throws(() => parseSpn(bad, 'spns.0'), { code: 'invalid', field: 'spns.0' }, JSON.stringify(bad))
    }
  })

  it('given a valid SPN, when it is parsed, then its parts keep the spelling they were written in', () => {
    assert.deepEqual(parseSpn('MSSQLSvc/Db.Corp:1433'), {
      serviceClass: 'MSSQLSvc',
      host: 'Db.Corp',
      port: 1433,
    })
    assert.deepEqual(parseSpn('GC/dc1.corp/corp.example.com'), {
      serviceClass: 'GC',
      host: 'dc1.corp',
      serviceName: 'corp.example.com',
    })
  })

  it('HTTP/x conflicts with HOST/x and HOST/x with every alias', () => {
    assert.deepEqual(spnConflictCandidates('HTTP/pool01.corp.example.com'), [
      'HTTP/pool01.corp.example.com',
      'HOST/pool01.corp.example.com',
    ])
    const host = spnConflictCandidates('host/pool01:8080').map((s) => s.toLowerCase())
    assert.equal(host[0], 'host/pool01:8080')
    assert.ok(host.includes('http/pool01:8080'))
    assert.ok(host.includes('cifs/pool01:8080'))
    assert.equal(new Set(host).size, host.length)
    assert.deepEqual(spnConflictCandidates('MSSQLSvc/db1:1433'), ['MSSQLSvc/db1:1433'])
  })

  it('reads sPNMappings values', () => {
    const m = parseSpnMappings(['host=alerter,HTTP,www', 'junk', 'x=y'])
    assert.deepEqual(m.get('host'), ['alerter', 'http', 'www'])
    assert.deepEqual(m.get('x'), ['y'])
    assert.ok(defaultSpnMappings.get('host')?.includes('http'))
  })
})
