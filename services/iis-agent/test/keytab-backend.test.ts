import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { deriveAccountKeys, exportAccountKeys, readKeytabFile } from '@krbfleet/kerberos'
import { silentLogger } from '@krbfleet/logging'
import type { KdcCheck } from '../src/adapters/keytab/kdc-check.ts'
import { keytabBackend, keytabStatePath } from '../src/adapters/keytab/keytab-backend.ts'
import type { AgentCredential } from '../src/ports.ts'

const run = promisify(execFile)

/**
 * The keytab backend on real files, read back by MIT klist: stage beside, activate, retire, remove;
 * idempotence; refusals that leave the keytab as it was. The KDC check and a real acceptor (Apache
 * mod_auth_gssapi) are in keytab-apache.int.test.ts.
 */

const realm = 'CORP.EXAMPLE.COM'
const credential = (
  kvno: number,
  password = `password-${kvno}`,
  account = 'CORP\\KERBAUTH',
): AgentCredential => {
  const sam = `${account.split('\\')[1]}$`
  const portable = exportAccountKeys(
    deriveAccountKeys({ password, realm, samAccountName: sam, dnsDomain: 'corp.example.com', kvno }),
  )
  return { account, principal: portable.principal, kvno, keys: portable.keys }
}

/** `klist -kte` as "kvno enctype principal" lines (MIT's reading of the file, not ours). */
async function klist(path: string): Promise<string[]> {
  const { stdout } = await run('klist', ['-kte', path])
  return stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+\S+\s+\S+\s+(\S+)\s+\((\S+)\)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]} ${m[3]} ${m[2]}`)
}

describe('keytab backend', () => {
  let dir: string
  let path: string
  let checks: string[]
  const kdcCheck: KdcCheck = async (principal, entries) => {
    checks.push(`${principal} ${entries.map((e) => e.kvno).join(',')}`)
    return { outcome: 'accepted' }
  }
  const backend = () =>
    // One state folder per keytab, as one agent has: the state remembers active kvnos (replays stay refused).
    keytabBackend({ path, statePath: keytabStatePath(`${path}.state`), kdcCheck, logger: silentLogger() })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-keytab-backend-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('stages beside the current kvno, activates, retires and removes; klist reads each step', async () => {
    path = join(dir, 'a', 'http.keytab')
    checks = []
    const b = backend()
    assert.deepEqual(await b.held(), [])
    await b.stage(credential(2))
    await b.activate('CORP\\KERBAUTH', 2)
    assert.deepEqual(await klist(path), [
      '2 aes256-cts-hmac-sha1-96 KERBAUTH$@CORP.EXAMPLE.COM',
      '2 aes128-cts-hmac-sha1-96 KERBAUTH$@CORP.EXAMPLE.COM',
    ])
    assert.equal((await stat(path)).mode & 0o777, 0o640)
    await b.stage(credential(3))
    assert.deepEqual(await b.held(), [
      { account: 'CORP\\KERBAUTH', kvno: 3, active: false },
      { account: 'CORP\\KERBAUTH', kvno: 2, active: true },
    ])
    assert.equal((await klist(path)).length, 4, 'the current kvno stays beside the staged one')
    await b.activate('CORP\\KERBAUTH', 3)
    assert.deepEqual(checks, ['KERBAUTH$@CORP.EXAMPLE.COM 2,2', 'KERBAUTH$@CORP.EXAMPLE.COM 3,3'])
    await b.retire('CORP\\KERBAUTH', [])
    assert.deepEqual(await klist(path), [
      '3 aes256-cts-hmac-sha1-96 KERBAUTH$@CORP.EXAMPLE.COM',
      '3 aes128-cts-hmac-sha1-96 KERBAUTH$@CORP.EXAMPLE.COM',
    ])
    assert.deepEqual(await b.health(), { ok: true })
    await b.remove('CORP\\KERBAUTH')
    assert.deepEqual(await klist(path), [])
    assert.deepEqual(await b.held(), [])
    assert.deepEqual(
      await readdir(join(dir, 'a')),
      ['http.keytab', 'http.keytab.state'],
      'no temporary file left',
    )
  })

  it('a re-delivered stage or activation changes nothing; two accounts live side by side', async () => {
    path = join(dir, 'b.keytab')
    checks = []
    const b = backend()
    await b.stage(credential(5))
    await b.activate('CORP\\KERBAUTH', 5)
    const bytes = await readFile(path)
    await b.stage(credential(5))
    await b.activate('CORP\\KERBAUTH', 5)
    assert.ok((await readFile(path)).equals(bytes), 'the same keytab, byte for byte')
    await b.stage(credential(1, 'other', 'CORP\\INTRANET'))
    assert.deepEqual(
      (await b.held()).map((h) => `${h.account} ${h.kvno}`),
      ['CORP\\INTRANET 1', 'CORP\\KERBAUTH 5'],
    )
    await b.remove('CORP\\INTRANET')
    assert.deepEqual(
      (await b.held()).map((h) => h.kvno),
      [5],
    )
  })

  it('refuses an older kvno, another password for the active kvno, a foreign principal and bad keys, leaving the keytab as it was', async () => {
    path = join(dir, 'c.keytab')
    const b = backend()
    await b.stage(credential(7))
    await b.activate('CORP\\KERBAUTH', 7)
    const bytes = await readFile(path)
    const refusals: Array<[AgentCredential, RegExp]> = [
      [credential(6), /kvno 6 of CORP\\KERBAUTH is older than the active kvno 7/],
      [credential(7, 'another'), /kvno 7 of CORP\\KERBAUTH is active with other keys/],
      [{ ...credential(8), principal: 'OTHER$@CORP.EXAMPLE.COM' }, /is not the principal of CORP\\KERBAUTH/],
      [{ ...credential(8), keys: [{ enctype: 18, key: 'c2hvcnQ=' }] }, /keys\.0\.key.*32 bytes/],
      [{ ...credential(8), keys: [{ enctype: 23, key: 'AAAA' }] }, /keys\.0\.enctype/],
    ]
    for (const [bad, message] of refusals) {
      await assert.rejects(b.stage(bad), (err: Error) => message.test(err.message), String(message))
      assert.ok((await readFile(path)).equals(bytes), `unchanged after ${message}`)
    }
    await assert.rejects(
      b.activate('CORP\\KERBAUTH', 9),
      /kvno 9 of CORP\\KERBAUTH was not staged on this server/,
    )
    await assert.rejects(b.activate('CORP\\NOBODY', 1), /was not staged/)
  })

  it('a staged kvno never activated (an aborted rotation) is replaced by the next stage of that kvno', async () => {
    path = join(dir, 'd.keytab')
    const b = backend()
    await b.stage(credential(2))
    await b.activate('CORP\\KERBAUTH', 2)
    await b.stage(credential(3, 'aborted'))
    await b.stage(credential(3, 'committed'))
    const keys = (await readKeytabFile(path)).filter((e) => e.kvno === 3)
    const expected = credential(3, 'committed')
      .keys.map((k) => k.key)
      .sort()
    assert.deepEqual(keys.map((e) => e.key.toString('base64')).sort(), expected)
  })

  it('a keytab that does not parse is refused with a clear error and left untouched; health says so', async () => {
    path = join(dir, 'e.keytab')
    await writeFile(path, 'not a keytab', { mode: 0o600 })
    const b = backend()
    await assert.rejects(b.stage(credential(1)), /e\.keytab is not a keytab krbfleet can read/)
    assert.equal(await readFile(path, 'utf8'), 'not a keytab')
    const health = await b.health()
    assert.equal(health.ok, false)
    assert.match(health.detail ?? '', /not a keytab krbfleet can read/)
  })

  it('install stages, activates and retires in one write of each file; the same install again writes nothing', async () => {
    path = join(dir, 'g.keytab')
    checks = []
    const b = backend()
    const install = b.install
    assert.ok(install, 'the keytab backend installs in one change')
    await install(credential(2), { activate: true, keep: [2] })
    await b.stage(credential(3))
    assert.equal((await klist(path)).length, 4)
    const written = async (work: () => Promise<void>) => {
      const before = [(await stat(path)).ino, (await stat(`${path}.state/keytab-accounts.json`)).ino]
      await work()
      const after = [(await stat(path)).ino, (await stat(`${path}.state/keytab-accounts.json`)).ino]
      return { keytab: before[0] !== after[0], state: before[1] !== after[1] }
    }
    // kvno 3 was staged: its install only switches to it and drops kvno 2 (not kept).
    assert.deepEqual(await written(() => install(credential(3), { activate: true, keep: [3] })), {
      keytab: true,
      state: true,
    })
    assert.deepEqual(await klist(path), [
      '3 aes256-cts-hmac-sha1-96 KERBAUTH$@CORP.EXAMPLE.COM',
      '3 aes128-cts-hmac-sha1-96 KERBAUTH$@CORP.EXAMPLE.COM',
    ])
    assert.deepEqual(await b.held(), [{ account: 'CORP\\KERBAUTH', kvno: 3, active: true }])
    assert.deepEqual(checks, ['KERBAUTH$@CORP.EXAMPLE.COM 2,2', 'KERBAUTH$@CORP.EXAMPLE.COM 3,3'])
    assert.deepEqual(await written(() => install(credential(3), { activate: true, keep: [3] })), {
      keytab: false,
      state: false,
    })
    // A new kvno staged by install (a rotation's first phase): beside the active one, which stays.
    await install(credential(4), { activate: false, keep: [4, 3] })
    assert.deepEqual(await b.held(), [
      { account: 'CORP\\KERBAUTH', kvno: 4, active: false },
      { account: 'CORP\\KERBAUTH', kvno: 3, active: true },
    ])
    await assert.rejects(
      install(credential(2), { activate: true, keep: [2] }),
      /older than the active kvno 3/,
    )
  })

  it('what held and health report follows the files when something else replaces them', async () => {
    path = join(dir, 'h.keytab')
    const b = backend()
    await b.stage(credential(2))
    await b.activate('CORP\\KERBAUTH', 2)
    assert.deepEqual(await b.held(), [{ account: 'CORP\\KERBAUTH', kvno: 2, active: true }])
    // Another tool's keytab (ktutil) with kvno 9 put in place: read again, not the remembered one.
    const other = backend()
    await other.stage(credential(9))
    assert.deepEqual(
      (await b.held()).map((h) => h.kvno),
      [9, 2],
    )
    await writeFile(path, 'not a keytab', { mode: 0o600 })
    const health = await b.health()
    assert.equal(health.ok, false)
    assert.match(health.detail ?? '', /not a keytab krbfleet can read/)
    await rm(path)
    assert.deepEqual(await b.held(), [])
    assert.deepEqual(await b.health(), { ok: true })
  })

  it('health reports a key the KDC refused', async () => {
    path = join(dir, 'f.keytab')
    const b = keytabBackend({
      path,
      statePath: keytabStatePath(join(dir, 'state-f')),
      kdcCheck: async () => ({ outcome: 'rejected', detail: 'Preauthentication failed' }),
      logger: silentLogger(),
    })
    await b.stage(credential(4))
    await b.activate('CORP\\KERBAUTH', 4)
    assert.deepEqual(await b.health(), {
      ok: false,
      detail: 'the KDC refused kvno 4 of CORP\\KERBAUTH: Preauthentication failed',
    })
  })
})
