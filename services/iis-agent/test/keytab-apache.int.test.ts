import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { type Directory, encodeUnicodePwd } from '@krbfleet/directory'
import { deriveAccountKeys, exportAccountKeys } from '@krbfleet/kerberos'
import { silentLogger } from '@krbfleet/logging'
import {
  createUser,
  kerberosEnv,
  setPassword,
  startApache,
  startDc,
  strongPassword,
  type TestApache,
  type TestDc,
} from '@krbfleet/testing'
import { adminDirectory } from '@krbfleet/testing/world'
import { kinitCheck } from '../src/adapters/keytab/kdc-check.ts'
import { keytabBackend, keytabStatePath } from '../src/adapters/keytab/keytab-backend.ts'
import type { AgentCredential, CredentialBackend } from '../src/ports.ts'

const run = promisify(execFile)

/**
 * The keytab backend proven end to end against the DC's real KDC and a real acceptor: Apache with
 * mod_auth_gssapi reading the agent's keytab answers `curl --negotiate` for HTTP/<pool FQDN> with
 * 401 before the credential is installed and 200 after; through a password change, tickets of the
 * old and the new kvno are both accepted while both are held, and the old one no longer once it is
 * retired. The key check against the KDC (kinit -k) accepts the real key and refuses a wrong one.
 */
describe('keytab backend with Apache mod_auth_gssapi and the DC KDC', { timeout: 300_000 }, () => {
  const pool = 'pool01.corp.example.com'
  const account = 'CORP\\KERBAUTH'
  let dc: TestDc
  let admin: Directory
  let apache: TestApache
  let work: string
  let keytab: string
  let backend: CredentialBackend
  let accountDn: string
  /** A user's ticket cache, per name (each holds the service ticket it got first). */
  const cache = (name: string) => ({
    ...process.env,
    ...kerberosEnv(dc),
    KRB5CCNAME: `FILE:${join(work, `cc-${name}`)}`,
  })
  const userPassword = strongPassword()
  const login = async (name: string) =>
    await run('sh', ['-c', 'printf "%s\\n" "$PW" | kinit alice >/dev/null', 'sh'], {
      env: { ...cache(name), PW: userPassword },
    })
  const kvnoInAd = async () => await admin.readKvno(accountDn)
  const credentialFor = (password: string, kvno: number): AgentCredential => {
    const portable = exportAccountKeys(
      deriveAccountKeys({
        password,
        realm: dc.realm,
        samAccountName: 'KERBAUTH$',
        dnsDomain: dc.dnsDomain,
        kvno,
      }),
    )
    return { account, principal: portable.principal, kvno, keys: portable.keys }
  }
  const resetPassword = async () => {
    const password = strongPassword()
    await setPassword(dc, accountDn, password)
    return { password, kvno: await kvnoInAd() }
  }

  before(async () => {
    dc = await startDc()
    admin = await adminDirectory(dc)
    work = await mkdtemp(join(tmpdir(), 'krbfleet-keytab-apache-'))
    // The web server reaches the keytab's folder (which the backend creates for its group).
    await chmod(work, 0o755)
    // As krbfleet's account service makes it: one LDAP add of an enabled workstation trust
    // account with its password, AES only.
    accountDn = `CN=KERBAUTH,CN=Computers,${dc.baseDn}`
    await admin.add(accountDn, {
      objectClass: 'computer',
      sAMAccountName: 'KERBAUTH$',
      userAccountControl: '4096',
      dNSHostName: 'kerbauth.corp.example.com',
      'msDS-SupportedEncryptionTypes': '24',
      unicodePwd: encodeUnicodePwd(strongPassword()),
    })
    await admin.modifySpns(accountDn, { add: [`HTTP/${pool}`] })
    await createUser(dc, 'alice', userPassword)
    keytab = join(work, 'keytab', 'http.keytab')
    const { stdout } = await run('getent', ['group', 'www-data'])
    const gid = Number(stdout.split(':')[2])
    backend = keytabBackend({
      path: keytab,
      gid,
      statePath: keytabStatePath(join(work, 'state')),
      kdcCheck: kinitCheck({ env: { ...process.env, KRB5_CONFIG: dc.krb5Conf } }),
      logger: silentLogger(),
    })
    apache = await startApache({ keytab, krb5Config: dc.krb5Conf })
  })

  after(async () => {
    await apache?.stop()
    await admin?.close()
    await dc?.stop()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('401 before the credential, 200 after; the keytab is 0640 for the web server group, and the KDC accepts the key', async () => {
    const first = await resetPassword()
    await login('first')
    assert.equal(await apache.negotiate(pool, cache('first')), 401, 'no keytab yet')

    await backend.stage(credentialFor(first.password, first.kvno))
    await backend.activate(account, first.kvno)
    assert.equal(await apache.negotiate(pool, cache('first')), 200, await apache.errorLog())
    const mode = await stat(keytab)
    assert.equal(mode.mode & 0o777, 0o640)
    const { stdout } = await run('getent', ['group', 'www-data'])
    assert.equal(mode.gid, Number(stdout.split(':')[2]))
    assert.deepEqual(await backend.health(), { ok: true })
  })

  it('through a password change: both kvnos accepted while held, the old one refused once retired', async () => {
    const [before] = (await backend.held()).map((h) => h.kvno)
    assert.ok(before !== undefined)
    // "first" holds a service ticket of the old kvno; AD moves on.
    const next = await resetPassword()
    assert.equal(next.kvno, before + 1)
    await login('second')
    assert.equal(await apache.negotiate(pool, cache('second')), 401, 'the new kvno is not in the keytab yet')

    await backend.stage(credentialFor(next.password, next.kvno))
    assert.equal(await apache.negotiate(pool, cache('second')), 200, 'new kvno, staged beside the old')
    assert.equal(await apache.negotiate(pool, cache('first')), 200, 'a cached ticket of the old kvno')
    await backend.activate(account, next.kvno)
    await backend.retire(account, [])
    assert.deepEqual(await backend.held(), [{ account, kvno: next.kvno, active: true }])
    assert.equal(await apache.negotiate(pool, cache('first')), 401, 'the old kvno retired')
    assert.equal(await apache.negotiate(pool, cache('second')), 200)
  })

  it('a key the KDC does not hold is reported by health after activation', async () => {
    const kvno = (await kvnoInAd()) + 1
    await backend.stage(credentialFor('not the password AD has', kvno))
    await backend.activate(account, kvno)
    const health = await backend.health()
    assert.equal(health.ok, false)
    assert.match(health.detail ?? '', new RegExp(`the KDC refused kvno ${kvno} of CORP\\\\KERBAUTH`))
    // Removing the account takes every key away: the acceptor refuses again.
    await backend.remove(account)
    assert.equal(await apache.negotiate(pool, cache('second')), 401)
  })
})
