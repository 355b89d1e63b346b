import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { PassThrough } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { createLogger } from '@krbfleet/logging'
import { kinit, startDc, type TestDc } from '@krbfleet/testing'
import fc from 'fast-check'
import {
  childDn,
  connectDirectory,
  type Directory,
  dnEquals,
  filter,
  parseDn,
  SpnConflictError,
} from '../src/index.ts'

let dc: TestDc
let dir: Directory
const opened: Directory[] = []

function newPassword(): string {
  return `Kf!${randomBytes(24).toString('base64url')}`
}

async function ldaps(): Promise<Directory> {
  const d = await connectDirectory({
    url: dc.ldapsUrl,
    caFile: dc.caFile,
    servername: dc.tlsServername,
    bindDn: dc.adminDn,
    password: dc.adminPassword,
  })
  opened.push(d)
  return d
}

async function startTls(): Promise<Directory> {
  const d = await connectDirectory({
    url: dc.ldapUrl,
    startTls: true,
    ca: await readFile(dc.caFile),
    servername: dc.tlsServername,
    bindDn: dc.adminDn,
    password: dc.adminPassword,
  })
  opened.push(d)
  return d
}

/** Creates a computer account in ONE add, as the account service does (lab NOTES.md). */
async function createComputer(d: Directory, name: string, password: string): Promise<string> {
  const dn = childDn('CN', name, `CN=Computers,${dc.baseDn}`)
  await d.add(dn, {
    objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
    sAMAccountName: `${name}$`,
    userAccountControl: 4096,
    dNSHostName: `${name.toLowerCase()}.${dc.dnsDomain}`,
    'msDS-SupportedEncryptionTypes': 24,
    unicodePwd: Buffer.from(`"${password}"`, 'utf16le'),
  })
  return dn
}

function isCode(code: ErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof KrbfleetError, `a KrbfleetError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return true
  }
}

describe('directory against a real Samba AD DC', () => {
  before(async () => {
    dc = await startDc()
    dir = await ldaps()
  })
  after(async () => {
    for (const d of opened) await d.close()
    await dc?.stop()
  })

  it('connects over LDAPS and reads the root DSE', async () => {
    assert.equal(dir.encrypted, true)
    assert.equal(dir.baseDn, dc.baseDn)
    const dse = await dir.rootDse()
    assert.equal(dse.defaultNamingContext, dc.baseDn)
    assert.equal(dse.dnsHostName.toLowerCase(), 'dc1.corp.example.com')
    assert.match(dse.ldapServiceName, /corp\.example\.com:dc1\$@CORP\.EXAMPLE\.COM/i)
    assert.ok(dse.configurationNamingContext.startsWith('CN=Configuration,'))
  })

  it('creates a computer account in one add and reads it back with its kvno', async () => {
    const dn = await createComputer(dir, 'KERBAUTH', newPassword())
    assert.equal(await dir.exists(dn), true)
    const entry = await dir.findOne(
      dc.baseDn,
      filter.and(filter.eq('objectClass', 'computer'), filter.eq('sAMAccountName', 'kerbauth$')),
      {
        attributes: [
          'sAMAccountName',
          'userAccountControl',
          'dNSHostName',
          'msDS-KeyVersionNumber',
          'objectGUID',
        ],
        binaryAttributes: ['objectGUID'],
      },
    )
    assert.ok(entry)
    assert.ok(dnEquals(entry.dn, dn))
    assert.equal(entry.value('samaccountname'), 'KERBAUTH$')
    assert.equal(entry.integer('userAccountControl'), 4096)
    assert.equal(entry.value('dNSHostName'), 'kerbauth.corp.example.com')
    assert.equal(entry.integer('msDS-KeyVersionNumber'), await dir.readKvno(dn))
    assert.ok((await dir.readKvno(dn)) >= 1)
    assert.equal(entry.buffers('objectGUID')[0]?.length, 16)
    await assert.rejects(createComputer(dir, 'KERBAUTH', newPassword()), isCode(ErrorCode.AlreadyExists))
  })

  it('sets the password over LDAPS and over StartTLS: the kvno goes up and the KDC accepts it', async () => {
    const dn = await createComputer(dir, 'ROTATE1', newPassword())
    const kvno0 = await dir.readKvno(dn)
    const viaLdaps = newPassword()
    await dir.setPassword(dn, viaLdaps)
    assert.equal(await dir.readKvno(dn), kvno0 + 1)
    await kinit(dc, 'ROTATE1$@CORP.EXAMPLE.COM', viaLdaps)

    const tlsDir = await startTls()
    assert.equal(tlsDir.encrypted, true)
    const viaStartTls = newPassword()
    await tlsDir.setPassword(dn, viaStartTls)
    assert.equal(await tlsDir.readKvno(dn), kvno0 + 2)
    await kinit(dc, 'ROTATE1$@CORP.EXAMPLE.COM', viaStartTls)
    await assert.rejects(kinit(dc, 'ROTATE1$@CORP.EXAMPLE.COM', viaLdaps))
  })

  it('a duplicate SPN on a second account is a SpnConflictError naming the SPN', async () => {
    const a = await createComputer(dir, 'SPNA', newPassword())
    const b = await createComputer(dir, 'SPNB', newPassword())
    const spn = 'HTTP/pool01.corp.example.com'
    await dir.modifySpns(a, { add: [spn, 'HTTP/pool01'] })
    const aEntry = await dir.read(a, ['1.1'])
    const http0Dn = () => aEntry?.dn ?? ''
    assert.deepEqual((await dir.getSpns(a)).sort(), ['HTTP/pool01', spn].sort())

    await assert.rejects(dir.modifySpns(b, { add: [spn] }), (err) => {
      assert.ok(err instanceof SpnConflictError, String(err))
      assert.equal(err.code, ErrorCode.SpnConflict)
      assert.equal(err.spn?.toLowerCase(), spn.toLowerCase())
      assert.equal(err.details?.ldapCode, 19)
      assert.equal((err.details?.holder as { samAccountName?: string } | undefined)?.samAccountName, 'SPNA$')
      return true
    })
    // A case variant and the HOST alias collide too (Samba's samldb, as Windows).
    await assert.rejects(dir.modifySpns(b, { add: ['http/POOL01.corp.example.com'] }), SpnConflictError)
    // Samba answers the alias collision with a bare constraint violation; the holder is looked up.
    await assert.rejects(dir.modifySpns(b, { add: ['HOST/pool01.corp.example.com'] }), (err) => {
      assert.ok(err instanceof SpnConflictError, String(err))
      assert.equal(err.spn, 'HOST/pool01.corp.example.com')
      assert.deepEqual(err.details?.holder, { dn: http0Dn(), samAccountName: 'SPNA$', spn })
      return true
    })
    assert.deepEqual(await dir.getSpns(b), [])
    // The same SPN again on its holder: attributeOrValueExists.
    await assert.rejects(dir.modifySpns(a, { add: [spn] }), isCode(ErrorCode.Conflict))

    const holders = await dir.findSpnHolders([
      'http/POOL01.CORP.EXAMPLE.COM',
      'HOST/pool01.corp.example.com',
      'HTTP/free.corp.example.com',
    ])
    assert.equal(holders.size, 3)
    const http = holders.get('http/POOL01.CORP.EXAMPLE.COM') ?? []
    assert.equal(http.length, 1)
    assert.ok(dnEquals(http[0]?.dn ?? '', a))
    assert.equal(http[0]?.samAccountName, 'SPNA$')
    assert.equal(http[0]?.spn, spn)
    // HOST/x is blocked by HTTP/x held elsewhere: the alias holder is reported.
    assert.equal(holders.get('HOST/pool01.corp.example.com')?.[0]?.samAccountName, 'SPNA$')
    assert.deepEqual(holders.get('HTTP/free.corp.example.com'), [])

    // Moving the SPNs: add and remove in one modify on each account.
    await dir.modifySpns(a, { remove: [spn], add: ['HTTP/pool02.corp.example.com'] })
    await dir.modifySpns(b, { add: [spn] })
    assert.deepEqual((await dir.getSpns(a)).sort(), ['HTTP/pool01', 'HTTP/pool02.corp.example.com'])
    assert.deepEqual(await dir.getSpns(b), [spn])
    assert.equal((await dir.findSpnHolders([spn])).get(spn)?.[0]?.samAccountName, 'SPNB$')
  })

  it('reads every SPN of a large account through range retrieval, and searches a global catalog', async () => {
    const dn = await createComputer(dir, 'MANYSPN', newPassword())
    const spns = Array.from({ length: 10 }, (_, i) => `HTTP/web${i}.corp.example.com`)
    await dir.modifySpns(dn, { add: spns })
    assert.deepEqual(
      (await dir.readValues(dn, 'servicePrincipalName', { rangeSize: 3 })).sort(),
      [...spns].sort(),
    )
    assert.deepEqual(
      (await dir.readValues(dn, 'servicePrincipalName', { rangeSize: 5 })).sort(),
      [...spns].sort(),
    )
    assert.deepEqual((await dir.getSpns(dn)).sort(), [...spns].sort())
    // A slice asked for by name stays a slice.
    const slice = await dir.read(dn, ['servicePrincipalName;range=0-3'])
    assert.equal(slice?.ranged('servicePrincipalName')?.values.length, 4)

    const gc = await connectDirectory({
      url: `ldaps://${dc.address}:3269`,
      caFile: dc.caFile,
      servername: dc.tlsServername,
      bindDn: dc.adminDn,
      password: dc.adminPassword,
    })
    opened.push(gc)
    const holders = await gc.findSpnHolders(['HTTP/web7.corp.example.com'], { base: '' })
    assert.equal(holders.get('HTTP/web7.corp.example.com')?.[0]?.samAccountName, 'MANYSPN$')
  })

  it('a failed modifySpns changes nothing (one modify is atomic)', async () => {
    const c = await createComputer(dir, 'SPNC', newPassword())
    await dir.modifySpns(c, { add: ['HTTP/mine.corp.example.com'] })
    await assert.rejects(
      dir.modifySpns(c, { add: ['HTTP/pool01.corp.example.com'], remove: ['HTTP/mine.corp.example.com'] }),
      SpnConflictError,
    )
    assert.deepEqual(await dir.getSpns(c), ['HTTP/mine.corp.example.com'])
  })

  it('a filter value such as *)(objectClass=* matches nothing', async () => {
    assert.ok(
      (await dir.search(dc.baseDn, filter.present('objectClass'), { attributes: ['1.1'], sizeLimit: 5 }))
        .length > 0,
    )
    for (const hostile of ['*)(objectClass=*', '*', 'KERB*', '*)(|(sAMAccountName=*', '\\2a']) {
      const found = await dir.search(dc.baseDn, filter.eq('sAMAccountName', hostile), { attributes: ['1.1'] })
      assert.deepEqual(found, [], hostile)
      const prefixed = await dir.search(dc.baseDn, filter.startsWith('sAMAccountName', hostile), {
        attributes: ['1.1'],
      })
      assert.deepEqual(prefixed, [], hostile)
    }
    // Property: whatever the value, the DC matches it literally (BER values are never parsed as syntax).
    await fc.assert(
      fc.asyncProperty(
        fc.string({
          unit: fc.constantFrom('*', '(', ')', '\\', '\0', '|', '&', '!', '=', 'a', 'K', 'é', ' '),
          minLength: 1,
        }),
        async (value) => {
          const found = await dir.search(dc.baseDn, filter.eq('sAMAccountName', value), {
            attributes: ['sAMAccountName'],
          })
          for (const e of found) assert.equal(e.value('sAMAccountName')?.toLowerCase(), value.toLowerCase())
        },
      ),
      { numRuns: 100 },
    )
    // The literal prefix still works as a prefix.
    const kerb = await dir.search(dc.baseDn, filter.startsWith('sAMAccountName', 'KERB'), {
      attributes: ['sAMAccountName'],
    })
    assert.deepEqual(
      kerb.map((e) => e.value('sAMAccountName')),
      ['KERBAUTH$'],
    )
  })

  it('a DN value with , + " \\ < > ; = round-trips through escapeDnValue', async () => {
    for (const name of ['a,b+c"d\\e<f>g;h=i', '#lead and trail ', ' x=1,y=2 ']) {
      const dn = childDn('OU', name, dc.baseDn)
      await dir.add(dn, { objectClass: ['top', 'organizationalUnit'], description: 'escaping test' })
      const entry = await dir.read(dn, ['ou', 'description'])
      assert.ok(entry, dn)
      assert.equal(entry.value('ou'), name)
      assert.equal(parseDn(entry.dn)[0]?.[0]?.value, name)
      assert.ok(dnEquals(entry.dn, dn))
      const found = await dir.findOne(dc.baseDn, filter.eq('ou', name), { scope: 'one', attributes: ['ou'] })
      assert.ok(found && dnEquals(found.dn, dn))
      // A child below it: the parent part of the DN is escaped too.
      const child = childDn('CN', 'KID,1', dn)
      await dir.add(child, { objectClass: ['top', 'container'] })
      assert.equal(await dir.exists(child), true)
      await dir.delete(child)
      await dir.delete(dn)
      assert.equal(await dir.exists(dn), false)
    }
  })

  /** A value ending in a space and a character that RFC 4514 escapes (see the property below). */
  const sambaMangles = (value: string) => / [,+"\\<>;=]$/.test(value)

  it('property: any OU name built from DN special characters round-trips on the DC', async () => {
    const parent = childDn('OU', 'escaping property', dc.baseDn)
    await dir.add(parent, { objectClass: ['top', 'organizationalUnit'] })
    const seen = new Set<string>()
    await fc.assert(
      fc.asyncProperty(
        fc.string({
          unit: fc.constantFrom(',', '+', '"', '\\', '<', '>', ';', '=', '#', ' ', 'a', 'Z', '1', 'ü'),
          minLength: 1,
          maxLength: 12,
        }),
        async (name) => {
          // AD compares names case-insensitively; skip ones already made by an earlier run.
          if (seen.has(name.toLowerCase()) || name.trim() === '') return
          // Samba 4.17's DN parser mishandles a value ending in a space followed by an escaped
          // special character, however it is escaped (RFC 4514 allows it): `OU=x \,` is refused as
          // "Empty RDN value", `OU=ab \,` is stored without its comma. Our escaping of such values is
          // covered by the RFC 4514 unit tests; the DC cannot round-trip them, so they are left out here.
          if (sambaMangles(name)) return
          seen.add(name.toLowerCase())
          const dn = childDn('OU', name, parent)
          await dir.add(dn, { objectClass: ['top', 'organizationalUnit'] })
          const entry = await dir.read(dn, ['ou'])
          assert.equal(entry?.value('ou'), name)
          assert.equal(parseDn(entry?.dn ?? '')[0]?.[0]?.value, name)
          await dir.delete(dn)
        },
      ),
      { numRuns: 40 },
    )
    await dir.delete(parent)
  })

  it('logs operations at debug level without any password', async () => {
    const sink = new PassThrough()
    let logged = ''
    sink.on('data', (chunk: Buffer) => {
      logged += chunk.toString()
    })
    const logger = createLogger({ name: 'directory-test', level: 'debug', destination: sink })
    const options = {
      url: dc.ldapUrl,
      startTls: true,
      caFile: dc.caFile,
      servername: dc.tlsServername,
      bindDn: dc.adminDn,
    }
    const logged1 = await connectDirectory({ ...options, password: dc.adminPassword, logger })
    opened.push(logged1)
    const dn = await createComputer(logged1, 'LOGGED1', newPassword())
    const password = newPassword()
    await logged1.setPassword(dn, password)
    const wrong = `Wrong-${newPassword()}`
    await assert.rejects(
      connectDirectory({ ...options, password: wrong, logger }),
      isCode(ErrorCode.Unauthorized),
    )
    await assert.rejects(logged1.setPassword(`CN=NOPE,${dc.baseDn}`, password), isCode(ErrorCode.NotFound))
    assert.match(logged, /LDAP connection bound/)
    assert.match(logged, /set password of/)
    for (const secret of [password, wrong, dc.adminPassword]) assert.ok(!logged.includes(secret))
  })

  it('maps not found, already exists and wrong credentials', async () => {
    const missing = `CN=NOPE,CN=Computers,${dc.baseDn}`
    await assert.rejects(dir.readKvno(missing), isCode(ErrorCode.NotFound))
    await assert.rejects(dir.delete(missing), isCode(ErrorCode.NotFound))
    await assert.rejects(dir.setPassword(missing, newPassword()), isCode(ErrorCode.NotFound))
    assert.equal(await dir.read(missing), undefined)
    const wrong = `Wrong-${newPassword()}`
    await assert.rejects(
      connectDirectory({
        url: dc.ldapsUrl,
        caFile: dc.caFile,
        servername: dc.tlsServername,
        bindDn: dc.adminDn,
        password: wrong,
      }),
      (err) => {
        assert.ok(err instanceof KrbfleetError)
        assert.equal(err.code, ErrorCode.Unauthorized)
        assert.equal(err.retryable, false)
        assert.ok(!err.message.includes(wrong))
        assert.ok(!JSON.stringify(err.toWire()).includes(wrong))
        return true
      },
    )
    await assert.rejects(
      connectDirectory({
        url: dc.ldapsUrl,
        caFile: dc.caFile,
        servername: 'not-the-dc.example.com',
        bindDn: dc.adminDn,
        password: dc.adminPassword,
      }),
      isCode(ErrorCode.InsecureConnection),
    )
  })

  it('recovers after dc.restart(); a call while the DC is down is unavailable and retryable', async () => {
    const tlsDir = await startTls()
    const dn = `CN=KERBAUTH,CN=Computers,${dc.baseDn}`
    const kvno = await dir.readKvno(dn)
    await dc.restart()
    assert.equal(await dir.readKvno(dn), kvno)
    const password = newPassword()
    await tlsDir.setPassword(dn, password)
    assert.equal(await dir.readKvno(dn), kvno + 1)

    await dc.kill()
    await assert.rejects(dir.readKvno(dn), (err) => {
      assert.ok(err instanceof KrbfleetError)
      assert.equal(err.code, ErrorCode.Unavailable)
      assert.equal(err.retryable, true)
      return true
    })
    await dc.start()
    assert.equal(await dir.readKvno(dn), kvno + 1)
    assert.equal(await tlsDir.readKvno(dn), kvno + 1)
  })

  it('a plain ldap:// connection (allowInsecure) refuses setPassword and the kvno stays', async () => {
    const plain = {
      url: dc.ldapUrl,
      allowInsecure: true,
      bindDn: dc.adminDn,
      password: dc.adminPassword,
    }
    // Samba refuses a simple bind in clear by default (strong auth required): typed error.
    await assert.rejects(connectDirectory(plain), isCode(ErrorCode.InsecureConnection))

    // Configured to accept it, Samba would also accept a password in clear: we must refuse it.
    const conf = await readFile(dc.smbConf, 'utf8')
    await writeFile(
      dc.smbConf,
      conf.replace(/^\[global\]$/m, '[global]\n\tldap server require strong auth = no'),
    )
    await dc.restart()
    const insecure = await connectDirectory(plain)
    opened.push(insecure)
    assert.equal(insecure.encrypted, false)
    const dn = `CN=KERBAUTH,CN=Computers,${dc.baseDn}`
    const kvno = await insecure.readKvno(dn)
    await assert.rejects(insecure.setPassword(dn, newPassword()), (err) => {
      assert.ok(err instanceof KrbfleetError)
      assert.equal(err.code, ErrorCode.InsecureConnection)
      assert.equal(err.retryable, false)
      assert.match(err.message, /not encrypted/)
      return true
    })
    await assert.rejects(
      insecure.modify(dn, {
        operation: 'replace',
        attribute: 'unicodePwd',
        values: [Buffer.from('"x"', 'utf16le')],
      }),
      isCode(ErrorCode.InsecureConnection),
    )
    await assert.rejects(
      createComputer(insecure, 'PLAIN1', newPassword()),
      isCode(ErrorCode.InsecureConnection),
    )
    assert.equal(await insecure.exists(`CN=PLAIN1,CN=Computers,${dc.baseDn}`), false)
    assert.equal(await dir.readKvno(dn), kvno)
  })
})
