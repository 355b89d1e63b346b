import assert from 'node:assert/strict'
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, before, beforeEach, describe, it } from 'node:test'
import { createLogger } from '@krbfleet/logging'
import {
  fileConfigurator,
  iisBackend,
  iisStatePaths,
  loadOrCreateLocalKey,
  localKeyProtector,
} from '../src/adapters/iis/index.ts'
import type { AgentCredential, CredentialBackend } from '../src/ports.ts'

// The iis backend over the file adapter: a copy of the fixture applicationHost.config and a real
// state folder; the assertions read the files (and what the recycler was asked to do).
const fixture = new URL('./fixtures/applicationHost.config', import.meta.url)
const account = 'CORP\\KERBAUTH'
const target = { pools: ['PoolWeb', 'PoolApi'], sites: ['Portal'] }
const credential = (kvno: number, password = `pw-${kvno}-Secret.Value`): AgentCredential => ({
  account,
  principal: 'KERBAUTH$@CORP.EXAMPLE.COM',
  kvno,
  keys: [],
  password,
})

describe('iis backend (file adapter)', () => {
  let dir: string
  let configPath: string
  let original: string
  let recycled: string[][]
  let failRecycle: boolean
  let logs: string
  let backend: CredentialBackend
  let protector: ReturnType<typeof localKeyProtector>

  const config = () => readFile(configPath, 'utf8')
  const passwordsInIis = async () => {
    const values = (await config()).match(/\[enc:KrbfleetLocalProvider:[^:"]+:enc\]/g) ?? []
    return Promise.all(values.map((v) => protector.unprotect(v)))
  }

  before(async () => {
    original = await readFile(fixture, 'utf8')
  })
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-iis-backend-'))
    configPath = join(dir, 'applicationHost.config')
    await copyFile(fixture, configPath)
    const paths = iisStatePaths(join(dir, 'state'))
    const key = await loadOrCreateLocalKey(paths.key)
    protector = localKeyProtector(key)
    recycled = []
    failRecycle = false
    logs = ''
    const stream = new PassThrough()
    stream.on('data', (chunk) => {
      logs += chunk
    })
    const recycler = {
      async recycle(pools: readonly string[]) {
        if (failRecycle) throw new Error('recycle failed')
        recycled.push([...pools])
      },
    }
    backend = iisBackend({
      configurator: fileConfigurator({ path: configPath, protector, recycler }),
      target,
      statePath: paths.credentials,
      stateKey: key,
      logger: createLogger({ name: 'test', level: 'debug', destination: stream }),
    })
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('stage keeps the password sealed in the state folder and leaves IIS alone', async () => {
    await backend.stage(credential(5))
    assert.equal(await config(), original)
    const { credentials, key } = iisStatePaths(join(dir, 'state'))
    assert.equal((await stat(credentials)).mode & 0o777, 0o600)
    assert.equal((await stat(key)).mode & 0o777, 0o600)
    assert.equal((await readFile(credentials, 'utf8')).includes('pw-5'), false)
    assert.deepEqual(await backend.held(), [{ account, kvno: 5, active: false }])
    assert.deepEqual(recycled, [])
  })

  it('activate switches the pools and recycles them once; again changes nothing', async () => {
    await backend.stage(credential(5))
    await backend.activate(account, 5)
    assert.deepEqual(await passwordsInIis(), ['pw-5-Secret.Value', 'pw-5-Secret.Value'])
    assert.match(await config(), /userName="CORP\\KERBAUTH\$"/)
    assert.match(await config(), /useAppPoolCredentials="true"/)
    assert.deepEqual(recycled, [['PoolWeb', 'PoolApi']])
    assert.deepEqual(await backend.held(), [{ account, kvno: 5, active: true }])
    const bytes = await config()
    await backend.stage(credential(5))
    await backend.activate(account, 5)
    assert.equal(await config(), bytes)
    assert.equal(recycled.length, 1)
  })

  it('a rotation stages beside the active password, switches on activate, and retires the old one', async () => {
    await backend.stage(credential(5))
    await backend.activate(account, 5)
    await backend.stage(credential(6))
    assert.deepEqual(
      await passwordsInIis(),
      ['pw-5-Secret.Value', 'pw-5-Secret.Value'],
      'staging does not switch',
    )
    await backend.activate(account, 6)
    assert.deepEqual(await passwordsInIis(), ['pw-6-Secret.Value', 'pw-6-Secret.Value'])
    assert.deepEqual(await backend.held(), [
      { account, kvno: 6, active: true },
      { account, kvno: 5, active: false },
    ])
    await backend.retire(account, [])
    assert.deepEqual(
      await backend.held(),
      [{ account, kvno: 6, active: true }],
      'the active kvno is never retired',
    )
  })

  it('refuses an older kvno, a credential without password, and activating what was not staged', async () => {
    await backend.stage(credential(5))
    await backend.activate(account, 5)
    const state = await readFile(iisStatePaths(join(dir, 'state')).credentials)
    await assert.rejects(backend.stage(credential(4)), /older than the active kvno 5/)
    await assert.rejects(backend.stage({ ...credential(7), password: undefined }), /has no password/)
    await assert.rejects(backend.activate(account, 8), /kvno 8 of CORP\\KERBAUTH was not staged/)
    assert.ok((await readFile(iisStatePaths(join(dir, 'state')).credentials)).equals(state))
  })

  it('a malformed applicationHost.config fails activate and keeps the previous state', async () => {
    await backend.stage(credential(5))
    await backend.activate(account, 5)
    await backend.stage(credential(6))
    const broken = (await config()).replace('</sites>', '')
    await writeFile(configPath, broken)
    await assert.rejects(backend.activate(account, 6), /not well-formed XML/)
    assert.equal(await config(), broken)
    assert.deepEqual((await backend.held()).find((k) => k.active)?.kvno, 5)
    const health = await backend.health()
    assert.equal(health.ok, false)
    assert.match(health.detail ?? '', /not well-formed XML/)
  })

  it('a recycle that failed after the write is done again when activate is retried', async () => {
    await backend.stage(credential(5))
    failRecycle = true
    await assert.rejects(backend.activate(account, 5), /recycle failed/)
    assert.deepEqual(await passwordsInIis(), ['pw-5-Secret.Value', 'pw-5-Secret.Value'])
    assert.deepEqual((await backend.held())[0]?.active, false)
    failRecycle = false
    await backend.activate(account, 5)
    assert.deepEqual(recycled, [['PoolWeb', 'PoolApi']])
    assert.deepEqual(await backend.held(), [{ account, kvno: 5, active: true }])
  })

  it('remove reverts the pools and sites, recycles, and forgets the account', async () => {
    await backend.stage(credential(5))
    await backend.activate(account, 5)
    await backend.remove(account)
    const text = await config()
    assert.doesNotMatch(text, /KERBAUTH|useAppPoolCredentials|KrbfleetLocalProvider/)
    assert.match(text, /<processModel identityType="ApplicationPoolIdentity"\tloadUserProfile="true"/)
    assert.deepEqual(recycled, [
      ['PoolWeb', 'PoolApi'],
      ['PoolWeb', 'PoolApi'],
    ])
    assert.deepEqual(await backend.held(), [])
    await backend.remove(account)
    assert.equal(recycled.length, 2, 'nothing left to remove: no recycle')
  })

  it('health is ok for the fixture and names a configured pool that is missing', async () => {
    assert.deepEqual(await backend.health(), { ok: true })
    const renamed = original.replace('name="PoolWeb"', 'name="PoolWeb2"')
    await writeFile(configPath, renamed)
    const health = await backend.health()
    assert.equal(health.ok, false)
    assert.match(health.detail ?? '', /application pool 'PoolWeb' not found/)
  })

  it('no password appears in clear in any file or log line', async () => {
    await backend.stage(credential(5))
    await backend.activate(account, 5)
    await backend.stage(credential(6))
    await backend.activate(account, 6)
    const files = [configPath, ...(await readdir(join(dir, 'state'))).map((f) => join(dir, 'state', f))]
    for (const file of files) {
      const text = await readFile(file, 'utf8')
      assert.equal(/pw-[56]-Secret/.test(text), false, file)
    }
    assert.match(logs, /pools run as the account/)
    assert.equal(/pw-[56]-Secret/.test(logs), false)
  })
})
