import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import { appcmdArgs, appcmdConfigurator } from '../src/adapters/iis/appcmd.ts'
import { IisConfigError } from '../src/adapters/iis/configurator.ts'

// The appcmd adapter. appcmd.exe needs Windows with IIS: here the argv it would get is checked
// exactly, and the adapter's decisions run against a stand-in process (test/fixtures/appcmd-stand-in.ts).
const identity = { userName: 'CORP\\KERBAUTH$', password: 'Pw-1:%^!x' }

describe('appcmd command lines', () => {
  it('builds the documented appcmd commands, one argv element per parameter', () => {
    assert.deepEqual(appcmdArgs.setPoolIdentity('Pool Web', identity), [
      'set',
      'apppool',
      '/apppool.name:Pool Web',
      '/processModel.identityType:SpecificUser',
      '/processModel.userName:CORP\\KERBAUTH$',
      '/processModel.password:Pw-1:%^!x',
    ])
    assert.deepEqual(appcmdArgs.setSiteAuth('Default Web Site'), [
      'set',
      'config',
      'Default Web Site',
      '-section:system.webServer/security/authentication/windowsAuthentication',
      '/enabled:true',
      '/useAppPoolCredentials:true',
      '/commit:apphost',
    ])
    assert.deepEqual(appcmdArgs.clearPoolIdentity('P'), [
      'set',
      'apppool',
      '/apppool.name:P',
      '/processModel.identityType:ApplicationPoolIdentity',
      '/processModel.userName:',
      '/processModel.password:',
    ])
    assert.deepEqual(appcmdArgs.recycle('P'), ['recycle', 'apppool', '/apppool.name:P'])
  })

  it('refuses what appcmd could misread, without echoing a password', () => {
    assert.throws(
      () => appcmdArgs.setPoolIdentity('P', { ...identity, password: 'a"b' }),
      (err: unknown) => err instanceof IisConfigError && !err.message.includes('a"b'),
    )
    assert.throws(() => appcmdArgs.setSiteAuth('/commit:apphost'), /starts with - or \//)
    assert.throws(() => appcmdArgs.recycle('a\nb'), /control character/)
  })
})

describe('appcmd adapter against a stand-in appcmd', () => {
  let dir: string
  let statePath: string
  const configurator = () =>
    appcmdConfigurator({
      command: {
        file: process.execPath,
        args: [new URL('./fixtures/appcmd-stand-in.ts', import.meta.url).pathname],
      },
    })
  const state = async () => JSON.parse(await readFile(statePath, 'utf8'))
  const target = { pools: ['PoolWeb'], sites: ['Portal'] }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-appcmd-'))
    statePath = join(dir, 'state.json')
    process.env.APPCMD_STATE = statePath
  })
  beforeEach(async () => {
    const pool = { identityType: 'ApplicationPoolIdentity', userName: '', password: '' }
    await writeFile(
      statePath,
      JSON.stringify({
        pools: { PoolWeb: pool, Locked: { ...pool, locked: true } },
        sites: { Portal: { enabled: true, useAppPoolCredentials: false } },
        writes: 0,
        recycled: [],
      }),
    )
  })
  after(async () => {
    delete process.env.APPCMD_STATE
    await rm(dir, { recursive: true, force: true })
  })

  it('applies, changes nothing when applied again, rotates, recycles and clears', async () => {
    assert.deepEqual(await configurator().apply(target, identity), { changed: true })
    let now = await state()
    assert.deepEqual(now.pools.PoolWeb, { identityType: 'SpecificUser', ...identity })
    assert.deepEqual(now.sites.Portal, { enabled: true, useAppPoolCredentials: true })
    assert.equal(now.writes, 2)
    assert.deepEqual(await configurator().apply(target, identity), { changed: false })
    assert.equal((await state()).writes, 2)
    await configurator().apply(target, { ...identity, password: 'Pw-2' })
    assert.equal((await state()).pools.PoolWeb.password, 'Pw-2')
    await configurator().recycle(['PoolWeb'])
    assert.deepEqual((await state()).recycled, ['PoolWeb'])
    assert.deepEqual(await configurator().read(target), {
      pools: [
        { name: 'PoolWeb', identityType: 'SpecificUser', userName: identity.userName, hasPassword: true },
      ],
      sites: [{ name: 'Portal', enabled: true, useAppPoolCredentials: true }],
    })
    assert.deepEqual(await configurator().clear(target, identity.userName), { changed: true })
    now = await state()
    assert.deepEqual(now.pools.PoolWeb, {
      identityType: 'ApplicationPoolIdentity',
      userName: '',
      password: '',
    })
    assert.equal(now.sites.Portal.useAppPoolCredentials, false)
    assert.deepEqual(await configurator().health(), { ok: true })
  })

  it('names a missing pool, and never quotes the password from appcmd output', async () => {
    await assert.rejects(configurator().apply({ pools: ['Nope'], sites: [] }, identity), (err: unknown) => {
      assert.ok(err instanceof IisConfigError)
      assert.equal(err.failure, 'missing')
      assert.match(err.message, /pool 'Nope'.*Cannot find APPPOOL/)
      return true
    })
    await assert.rejects(configurator().apply({ pools: ['Locked'], sites: [] }, identity), (err: unknown) => {
      assert.ok(err instanceof IisConfigError)
      assert.match(err.message, /\[redacted\]/)
      assert.equal(err.message.includes(identity.password), false)
      return true
    })
  })
})
