import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import { keyEncryptionKeyFromBytes } from '@krbfleet/sealing'
import { IisConfigError, type IisTarget } from '../src/adapters/iis/configurator.ts'
import { fileConfigurator } from '../src/adapters/iis/file-configurator.ts'
import { localKeyProtector } from '../src/adapters/iis/password-protector.ts'

// The file adapter on a copy of a realistic applicationHost.config (CRLF, comments, tabs, attributes
// over two lines, single quotes, entities): the bytes on disk are the assertions.
const fixture = new URL('./fixtures/applicationHost.config', import.meta.url)
const protector = localKeyProtector(keyEncryptionKeyFromBytes(randomBytes(32)))
const recycled: string[][] = []
const userName = 'CORP\\KERBAUTH$'
const target: IisTarget = { pools: ['PoolWeb', 'PoolApi'], sites: ['Portal', 'Intranet'] }
const ENC = /\[enc:KrbfleetLocalProvider:[^:"]+:enc\]/g

describe('iis file adapter', () => {
  let dir: string
  let path: string
  let original: string
  const configurator = () =>
    fileConfigurator({
      path,
      protector,
      recycler: { recycle: async (pools) => void recycled.push([...pools]) },
    })
  const onDisk = () => readFile(path, 'utf8')

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-iis-'))
    path = join(dir, 'applicationHost.config')
    original = await readFile(fixture, 'utf8')
  })
  beforeEach(async () => {
    await copyFile(fixture, path)
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('given the fixture, when applied, then only the owned attributes change, byte for byte', async () => {
    assert.deepEqual(await configurator().apply(target, { userName, password: 'first-Pw.1' }), {
      changed: true,
    })
    const text = await onDisk()
    const [web, api] = text.match(ENC) ?? []
    assert.ok(web && api && web !== api, 'each pool gets its own protected value')
    const expected = original
      .replace(
        '<processModel identityType="ApplicationPoolIdentity"\tloadUserProfile="true"\r\n                              idleTimeout="00:00:00" />',
        `<processModel identityType="SpecificUser"\tloadUserProfile="true"\r\n                              idleTimeout="00:00:00" userName="CORP\\KERBAUTH$" password="${web}" />`,
      )
      .replace(
        `<add name='PoolApi' managedRuntimeVersion="" startMode="AlwaysRunning" />\r\n`,
        `<add name='PoolApi' managedRuntimeVersion="" startMode="AlwaysRunning">\r\n                <processModel identityType="SpecificUser" userName="CORP\\KERBAUTH$" password="${api}" />\r\n            </add>\r\n`,
      )
      .replace(
        '<windowsAuthentication enabled="true" authPersistNonNTLM="true">',
        '<windowsAuthentication enabled="true" authPersistNonNTLM="true" useAppPoolCredentials="true">',
      )
      .replace(
        '            <defaultDocument enabled="false" />\r\n',
        [
          '            <defaultDocument enabled="false" />',
          '            <security>',
          '                <authentication>',
          '                    <windowsAuthentication enabled="true" useAppPoolCredentials="true" />',
          '                </authentication>',
          '            </security>',
          '',
        ].join('\r\n'),
      )
    assert.equal(text, expected)
    assert.equal(text.includes('first-Pw.1'), false, 'the password is never in clear')
    assert.equal(await protector.unprotect(web), 'first-Pw.1')
    assert.equal(await protector.unprotect(api), 'first-Pw.1')
    const state = await configurator().read(target)
    assert.deepEqual(
      state.pools.map((p) => [p.name, p.identityType, p.userName, p.hasPassword]),
      [
        ['PoolWeb', 'SpecificUser', userName, true],
        ['PoolApi', 'SpecificUser', userName, true],
      ],
    )
    assert.deepEqual(
      state.sites.map((s) => [s.name, s.enabled, s.useAppPoolCredentials]),
      [
        ['Portal', true, true],
        ['Intranet', true, true],
      ],
    )
  })

  it('given it was applied, when applied again, then the file is not written at all', async () => {
    await configurator().apply(target, { userName, password: 'same-Pw' })
    const before = await stat(path)
    const bytes = await readFile(path)
    assert.deepEqual(await configurator().apply(target, { userName, password: 'same-Pw' }), {
      changed: false,
    })
    const again = await stat(path)
    assert.ok((await readFile(path)).equals(bytes))
    assert.equal(again.ino, before.ino, 'not replaced by a rename either')
  })

  it('given it was applied, when the password rotates, then only the password values change', async () => {
    await configurator().apply(target, { userName, password: 'old-Pw' })
    const first = await onDisk()
    assert.deepEqual(await configurator().apply(target, { userName, password: 'new-Pw' }), { changed: true })
    const second = await onDisk()
    assert.equal(second.replace(ENC, 'X'), first.replace(ENC, 'X'))
    const values = second.match(ENC) ?? []
    assert.equal(values.length, 2)
    for (const value of values) {
      assert.equal(await protector.unprotect(value), 'new-Pw')
      assert.equal(first.includes(value), false)
    }
  })

  it('given it was applied, when cleared, then pools and sites are back as they were', async () => {
    const own = { pools: ['PoolWeb'], sites: ['Portal'] }
    await configurator().apply(own, { userName, password: 'pw' })
    assert.deepEqual(await configurator().clear(own, userName), { changed: true })
    assert.equal(await onDisk(), original, 'attributes added by apply are removed again')
    assert.deepEqual(await configurator().clear(own, userName), { changed: false })
  })

  it('given an element krbfleet created, when cleared, then it stays with ApplicationPoolIdentity', async () => {
    await configurator().apply(target, { userName, password: 'pw' })
    await configurator().clear(target, userName)
    const text = await onDisk()
    assert.match(
      text,
      /<add name='PoolApi'[^>]*>\r\n {16}<processModel identityType="ApplicationPoolIdentity" \/>\r\n/,
    )
    assert.doesNotMatch(text, /useAppPoolCredentials|KERBAUTH|KrbfleetLocalProvider/)
  })

  it('given a pool running as another user, when cleared for KERBAUTH$, then that pool is left alone', async () => {
    const other = { pools: ['Reporting & Billing'], sites: [] }
    assert.equal((await configurator().read(other)).pools[0]?.userName, 'CORP\\svc-report')
    assert.deepEqual(await configurator().clear(other, userName), { changed: false })
    assert.equal(await onDisk(), original)
  })

  it('given a site with no location, when applied, then a location for it is added before </configuration>', async () => {
    await configurator().apply({ pools: [], sites: ['default web site'] }, { userName, password: 'pw' })
    const text = await onDisk()
    const added = [
      '    <location path="default web site">',
      '        <system.webServer>',
      '            <security>',
      '                <authentication>',
      '                    <windowsAuthentication enabled="true" useAppPoolCredentials="true" />',
      '                </authentication>',
      '            </security>',
      '        </system.webServer>',
      '    </location>',
      '</configuration>',
    ].join('\r\n')
    assert.equal(text, original.replace('</configuration>', added))
  })

  it('given a pool or site that is not in the file, then the error names them and the file is untouched', async () => {
    const missing = { pools: ['PoolWeb', 'NoSuchPool'], sites: ['Ghost'] }
    await assert.rejects(configurator().apply(missing, { userName, password: 'pw' }), (err: unknown) => {
      assert.ok(err instanceof IisConfigError)
      assert.equal(err.failure, 'missing')
      assert.match(err.message, /application pool 'NoSuchPool'/)
      assert.match(err.message, /site 'Ghost'/)
      return true
    })
    assert.equal(await onDisk(), original)
  })

  for (const [what, damage] of [
    ['its second half missing', (t: string) => t.slice(0, t.length / 2)],
    ['a mismatched end tag', (t: string) => t.replace('</sites>', '</site>')],
    [
      'a duplicate attribute',
      (t: string) => t.replace('<add name="PoolWeb"', '<add name="PoolWeb" name="x"'),
    ],
    ['a bare ampersand', (t: string) => t.replace('Reporting &amp; Billing', 'Reporting & Billing')],
    ['a second root', (t: string) => `${t}<configuration />`],
    [
      'a DOCTYPE',
      (t: string) => t.replace('<configuration>', '<!DOCTYPE x [<!ENTITY a "b">]>\r\n<configuration>'),
    ],
  ] as const) {
    it(`given a file with ${what}, then it is refused and left untouched`, async () => {
      const bad = damage(original)
      await writeFile(path, bad)
      await assert.rejects(configurator().apply(target, { userName, password: 'pw' }), (err: unknown) => {
        assert.ok(err instanceof IisConfigError)
        assert.equal(err.failure, 'malformed')
        assert.match(err.message, /applicationHost\.config/)
        return true
      })
      assert.equal(await onDisk(), bad)
      const health = await configurator().health()
      assert.equal(health.ok, false)
      assert.match(health.detail ?? '', /not well-formed XML \(line \d+/)
    })
  }

  it('given bytes that are not UTF-8, then the file is refused and left untouched', async () => {
    const bad = Buffer.concat([
      Buffer.from(original.slice(0, 100)),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(original.slice(100)),
    ])
    await writeFile(path, bad)
    await assert.rejects(configurator().apply(target, { userName, password: 'pw' }), /not UTF-8/)
    assert.ok((await readFile(path)).equals(bad))
  })

  it('given a mode and a failing protector, then the mode is kept and a failure writes nothing', async () => {
    await chmod(path, 0o640)
    await configurator().apply(target, { userName, password: 'pw' })
    assert.equal((await stat(path)).mode & 0o777, 0o640)
    const written = await onDisk()
    const failing = fileConfigurator({
      path,
      recycler: { recycle: async () => {} },
      protector: { ...protector, protect: async () => Promise.reject(new Error('no key')) },
    })
    await assert.rejects(failing.apply(target, { userName, password: 'other' }), /no key/)
    assert.equal(await onDisk(), written)
    assert.deepEqual((await readdir(dir)).sort(), ['applicationHost.config'], 'no temporary file is left')
  })

  it('health is ok for the fixture and names the file when it is missing', async () => {
    assert.deepEqual(await configurator().health(), { ok: true })
    await rm(path)
    const health = await configurator().health()
    assert.equal(health.ok, false)
    assert.match(health.detail ?? '', /applicationHost\.config: cannot be read \(ENOENT\)/)
  })

  it('recycle goes to the recycler given', async () => {
    recycled.length = 0
    await configurator().recycle(['PoolWeb'])
    assert.deepEqual(recycled, [['PoolWeb']])
  })
})
