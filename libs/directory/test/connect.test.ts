import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { planConnection } from '../src/adapters/ldap/connect-options.ts'
import { decodeRootDse } from '../src/adapters/ldap/entry.ts'
import { connectDirectory, DirectoryEntry, encodeUnicodePwd, LdapSettings } from '../src/index.ts'

// Option checks happen before any socket is opened: no server is needed (or touched).
const base = { bindDn: 'CN=Administrator,CN=Users,DC=corp,DC=example,DC=com', password: 'x' }

describe('connectDirectory options', () => {
  it('refuses plain ldap:// unless StartTLS or allowInsecure, naming the settings that fix it once', async () => {
    // given a plain ldap:// URL without StartTLS
    // when connecting
    // then the refusal names the url field and says once which settings give an encrypted connection
    const advice =
      'ldap:// without StartTLS is not encrypted: set KRBFLEET_LDAP_URL to an ldaps:// URL, or KRBFLEET_LDAP_START_TLS=true'
    await assert.rejects(
      connectDirectory({ ...base, url: 'ldap://127.0.0.254:389' }),
      (err: Error & { field?: string }) => {
        assert.equal(err.field, 'url')
        assert.equal(err.message, `invalid directory options: url: ${advice}`)
        assert.equal(err.message.split(advice).length - 1, 1)
        assert.doesNotMatch(err.message, /allowInsecure/)
        return true
      },
    )
    // the settings named are the LdapSettings fields that loadConfig reads as those variables
    assert.ok('url' in LdapSettings.properties && 'startTls' in LdapSettings.properties)
  })

  it('plans TLS with the pinned CA only, TLS 1.2 or later, and the certificate name', async () => {
    // given an ldaps:// URL, a CA and the DC's certificate name
    const plan = await planConnection({
      ...base,
      url: 'ldaps://127.0.0.254:636',
      ca: 'PEM',
      servername: 'DC1.corp.example.com',
    })
    // then the DC is verified against that CA and name, nothing else
    assert.deepEqual(plan.tls, {
      ca: 'PEM',
      servername: 'DC1.corp.example.com',
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
    })
    assert.equal(plan.ldaps, true)
    assert.equal(plan.timeoutMs, 10_000)
    // given ldap:// with StartTLS and a host name: the servername defaults to the host
    const upgraded = await planConnection({
      ...base,
      url: 'ldap://dc1.corp.example.com',
      startTls: true,
      ca: 'PEM',
    })
    assert.equal(upgraded.startTls, true)
    assert.equal(upgraded.tls?.servername, 'dc1.corp.example.com')
    // given plain ldap:// allowed for reads: no TLS, so the connection reports itself unencrypted
    const plain = await planConnection({ ...base, url: 'ldap://dc1', allowInsecure: true })
    assert.equal(plain.tls, undefined)
  })

  it('requires a pinned CA for TLS and a servername for an IP address', async () => {
    await assert.rejects(connectDirectory({ ...base, url: 'ldaps://127.0.0.254' }), { field: 'ca' })
    await assert.rejects(connectDirectory({ ...base, url: 'ldaps://127.0.0.254', ca: 'PEM' }), {
      field: 'servername',
    })
    await assert.rejects(
      connectDirectory({ ...base, url: 'ldaps://127.0.0.254', caFile: '/nonexistent/ca.pem' }),
      {
        field: 'caFile',
      },
    )
  })

  it('refuses nonsense URLs, StartTLS on ldaps:// and a missing password', async () => {
    await assert.rejects(connectDirectory({ ...base, url: 'http://dc1' }), { field: 'url' })
    await assert.rejects(connectDirectory({ ...base, url: 'ldaps://dc1', startTls: true, ca: 'x' }), {
      field: 'startTls',
    })
    await assert.rejects(connectDirectory({ ...base, password: '', url: 'ldaps://dc1', ca: 'x' }), {
      field: 'password',
    })
    await assert.rejects(connectDirectory({ ...base, bindDn: 'junk', url: 'ldaps://dc1', ca: 'x' }), {
      field: 'bindDn',
    })
  })
})

describe('encodeUnicodePwd (MS-ADTS 3.1.1.3.1.5.1)', () => {
  it('is the quoted password in UTF-16LE', () => {
    assert.deepEqual(
      encodeUnicodePwd('Ab1!é'),
      Buffer.from([0x22, 0, 0x41, 0, 0x62, 0, 0x31, 0, 0x21, 0, 0xe9, 0, 0x22, 0]),
    )
    assert.throws(() => encodeUnicodePwd(''), { field: 'password' })
  })
})

describe('DirectoryEntry', () => {
  it('reads attributes case-insensitively, as text, bytes or integers', async () => {
    const { DirectoryEntry } = await import('../src/index.ts')
    const e = new DirectoryEntry('CN=x,DC=corp', {
      sAMAccountName: 'X$',
      'msDS-KeyVersionNumber': '7',
      servicePrincipalName: ['HTTP/a', 'HTTP/b'],
      objectGUID: Buffer.from([1, 2, 3]),
      empty: [],
    })
    assert.equal(e.value('samaccountname'), 'X$')
    assert.equal(e.integer('MSDS-KEYVERSIONNUMBER'), 7)
    assert.equal(e.integer('sAMAccountName'), undefined)
    assert.deepEqual(e.values('servicePrincipalName'), ['HTTP/a', 'HTTP/b'])
    assert.deepEqual(e.buffers('objectguid')[0], Buffer.from([1, 2, 3]))
    assert.equal(e.has('empty'), false)
    assert.equal(e.value('missing'), undefined)
    assert.deepEqual(e.names().sort(), [
      'msDS-KeyVersionNumber',
      'objectGUID',
      'sAMAccountName',
      'servicePrincipalName',
    ])
    assert.equal(e.toJSON().attributes.objectGUID?.[0], 'AQID')
  })

  it('recognises range-retrieval slices and takes the complete values in their place', async () => {
    const { DirectoryEntry } = await import('../src/index.ts')
    const e = new DirectoryEntry('CN=g,DC=corp', { 'member;range=0-1': ['CN=a', 'CN=b'], cn: 'g' })
    assert.deepEqual(e.slicedNames(), ['member'])
    assert.deepEqual(e.ranged('member'), { values: ['CN=a', 'CN=b'], first: 0, last: 1 })
    assert.deepEqual(e.values('member'), [])
    e.completeSliced('member', ['CN=a', 'CN=b', 'CN=c'])
    assert.deepEqual(e.values('member'), ['CN=a', 'CN=b', 'CN=c'])
    assert.deepEqual(e.slicedNames(), [])
    assert.equal(e.ranged('member'), undefined)
    const last = new DirectoryEntry('CN=g,DC=corp', { 'member;range=1500-*': ['CN=z'] })
    assert.deepEqual(last.ranged('member'), { values: ['CN=z'], first: 1500, last: undefined })
  })
})

describe('decodeRootDse', () => {
  it('gives typed fields: text, lists, integers and the global-catalog flag', () => {
    // given a root DSE entry as a DC sends it (every value text)
    const entry = new DirectoryEntry('', {
      defaultNamingContext: 'DC=corp,DC=example,DC=com',
      configurationNamingContext: 'CN=Configuration,DC=corp,DC=example,DC=com',
      namingContexts: ['DC=corp,DC=example,DC=com', 'CN=Configuration,DC=corp,DC=example,DC=com'],
      supportedLDAPVersion: ['3', '2'],
      domainFunctionality: '4',
      isGlobalCatalogReady: 'TRUE',
    })
    // when decoded
    const dse = decodeRootDse(entry)
    // then present values are typed and absent ones are '' / [] / undefined / false
    assert.equal(dse.defaultNamingContext, 'DC=corp,DC=example,DC=com')
    assert.equal(dse.namingContexts.length, 2)
    assert.deepEqual(dse.supportedLDAPVersion, ['3', '2'])
    assert.equal(dse.domainFunctionality, 4)
    assert.equal(dse.forestFunctionality, undefined)
    assert.equal(dse.isGlobalCatalogReady, true)
    assert.equal(dse.dnsHostName, '')
    assert.deepEqual(dse.supportedControl, [])
    assert.equal(
      decodeRootDse(new DirectoryEntry('', { isGlobalCatalogReady: 'FALSE' })).isGlobalCatalogReady,
      false,
    )
  })
})
