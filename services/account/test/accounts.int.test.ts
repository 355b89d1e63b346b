import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Bus } from '@krbfleet/bus'
import {
  type AccountChange,
  type AccountTestReport,
  type AccountView,
  accountKey,
  accountOperations as Op,
  buckets,
  KerberosAccountCreated,
  KerberosAccountRemoved,
  PasswordReset,
} from '@krbfleet/contracts'
import type { Directory } from '@krbfleet/directory'
import { deriveAccountKeys, writeKeytabFile } from '@krbfleet/kerberos'
import { createUser, kerberosEnv, type NatsServer, type TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import { KekSecretBox } from '../src/adapters/nats/account-store.ts'
import type { RunningAccountService } from '../src/start.ts'
import { AccountRecordCodec, type PendingSecret } from '../src/domain/record.ts'
import {
  accountsStream,
  caller,
  computerDns,
  currentPassword,
  eventsStream,
  failure,
  LogCapture,
  newKek,
  readComputer,
  run,
  startService,
  streamText,
} from './helpers.ts'

describe('account service against a real Samba DC and NATS', { timeout: 300_000 }, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let service: RunningAccountService
  let bus: Bus
  let admin: Directory
  let call: ReturnType<typeof caller>
  let work: string
  const logs = new LogCapture()
  const kek = newKek()
  /** Every password the service set, opened from KV: none may appear anywhere in clear. */
  const seenPasswords = new Set<string>()

  const remember = async (account: string) => {
    const current = await currentPassword(bus, kek.key, account)
    seenPasswords.add(current.password)
    return current
  }

  before(async () => {
    world = await startWorld({ name: 'accounts-test' })
    ;({ dc, nats, bus, admin } = world)
    service = await startService(dc, nats, kek.key, logs.logger())
    call = caller(bus)
    work = await mkdtemp(join(tmpdir(), 'krbfleet-account-test-'))
  })

  after(async () => {
    await service?.stop()
    await world?.stop()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('creates a computer account that AD reads back with the expected attributes and kvno', async () => {
    const change = await call<AccountChange>(Op.create, { account: 'corp\\kerbauth' })
    assert.equal(change.action, 'create')
    assert.equal(change.dn, 'CN=KERBAUTH,CN=Computers,DC=corp,DC=example,DC=com')
    assert.equal(change.attributes.unicodePwd, '[secret]')
    const ad = await readComputer(admin, dc.baseDn, 'KERBAUTH$')
    assert.deepEqual(ad, {
      dn: change.dn,
      sAMAccountName: 'KERBAUTH$',
      userAccountControl: 4096,
      dNSHostName: 'kerbauth.corp.example.com',
      description: 'Managed by krbfleet: Kerberos account for web pools; do not edit',
      encryptionTypes: 24,
      kvno: change.kvno,
    })
    const { password, kvno, record } = await remember('CORP\\KERBAUTH')
    assert.ok(password.length >= 64)
    assert.equal(kvno, ad?.kvno)
    assert.equal(record.pending, null)
    const view = await call<AccountView>(Op.show, { account: 'CORP\\KERBAUTH' })
    assert.equal(view.managed, true)
    assert.equal(view.kvno, kvno)
    assert.equal(view.secretKvno, kvno)
    assert.deepEqual(view.encryptionTypeNames, ['aes128-cts-hmac-sha1-96', 'aes256-cts-hmac-sha1-96'])
    const { accounts } = await call<{ accounts: AccountView[] }>(Op.list, {})
    assert.deepEqual(
      accounts.map((a) => a.account),
      ['CORP\\KERBAUTH'],
    )
    const events = await streamText(bus, eventsStream)
    const created = events
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((e) => e.type === KerberosAccountCreated.type && e.data.account === 'CORP\\KERBAUTH')
    assert.deepEqual(created.data, {
      account: 'CORP\\KERBAUTH',
      dn: change.dn,
      kvno,
      encryptionTypes: 24,
      adopted: false,
    })
    assert.equal(created.actor, 'user:test')
  })

  it('refuses a duplicate create with already_exists, and adopts with --adopt (new password, kvno + 1)', async () => {
    const before = await readComputer(admin, dc.baseDn, 'KERBAUTH$')
    const err = await failure(call(Op.create, { account: 'CORP\\KERBAUTH' }))
    assert.equal(err.code, 'already_exists')
    assert.match(err.message, /already exists at CN=KERBAUTH.*--adopt/)
    assert.equal((await readComputer(admin, dc.baseDn, 'KERBAUTH$'))?.kvno, before?.kvno)

    // An account made by hand (no marker, AES256 only) becomes managed.
    await dc.sambaTool(['computer', 'create', 'HANDMADE'])
    // RC4 only: not something krbfleet can serve, so adoption moves it to the AES default.
    await admin.modify('CN=HANDMADE,CN=Computers,DC=corp,DC=example,DC=com', {
      operation: 'replace',
      attribute: 'msDS-SupportedEncryptionTypes',
      values: ['4'],
    })
    const adopted = await call<AccountChange>(Op.create, { account: 'CORP\\HANDMADE', adopt: true })
    assert.equal(adopted.action, 'adopt')
    const ad = await readComputer(admin, dc.baseDn, 'HANDMADE$')
    assert.equal(ad?.description, 'Managed by krbfleet: Kerberos account for web pools; do not edit')
    assert.equal(ad?.encryptionTypes, 24)
    assert.equal(ad?.kvno, adopted.kvno)
    const { record } = await remember('CORP\\HANDMADE')
    assert.equal(record.adopted, true)
    assert.equal(record.secret?.kvno, ad?.kvno)
  })

  it('honours --encryption-types and --dry-run', async () => {
    const plan = await call<AccountChange>(Op.create, {
      account: 'CORP\\WEB256',
      encryptionTypes: 'aes256',
      dryRun: true,
    })
    assert.equal(plan.dryRun, true)
    assert.equal(plan.attributes['msDS-SupportedEncryptionTypes'], '16')
    assert.equal(await readComputer(admin, dc.baseDn, 'WEB256$'), undefined)
    const kv = await bus.kv(buckets.accounts)
    assert.equal(await kv.get(accountKey('CORP\\WEB256')), null)
    await call(Op.create, { account: 'CORP\\WEB256', encryptionTypes: 'aes256' })
    assert.equal((await readComputer(admin, dc.baseDn, 'WEB256$'))?.encryptionTypes, 16)
    await remember('CORP\\WEB256')
  })

  it('refuses bad input with a clear error and changes nothing in AD or KV', async () => {
    const before = await computerDns(admin, dc.baseDn)
    const kv = await bus.kv(buckets.accounts)
    const keysBefore = [] as string[]
    for await (const k of await kv.keys()) keysBefore.push(k)
    const cases: Array<[unknown, string, RegExp]> = [
      [{ account: 'KERBAUTH2' }, 'rule_violation', /DOMAIN\\NAME form/],
      [
        { account: 'CORP\\ABCDEFGHIJKLMNOP' },
        'rule_violation',
        /16 characters; NetBIOS names allow at most 15/,
      ],
      [{ account: 'CORP\\bad name' }, 'rule_violation', /only letters, digits/],
      [{ account: 'OTHER\\KERBAUTH2' }, 'rule_violation', /not the domain this service manages/],
      [
        { account: 'CORP\\KERBAUTH2', containerDn: 'OU=Web,,DC=corp' },
        'invalid',
        /not a valid distinguished name/,
      ],
      [{ account: 'CORP\\KERBAUTH2', containerDn: 'not a dn' }, 'invalid', /containerDn/],
      [
        { account: 'CORP\\KERBAUTH2', containerDn: 'OU=Nowhere,DC=corp,DC=example,DC=com' },
        'not_found',
        /containerDn: 'OU=Nowhere,DC=corp,DC=example,DC=com' does not exist/,
      ],
      [
        { account: 'CORP\\KERBAUTH2', containerDn: 'OU=Web,DC=other,DC=com' },
        'rule_violation',
        /not inside the domain/,
      ],
      [{ account: 'CORP\\KERBAUTH2', encryptionTypes: 'des' }, 'invalid', /'des' is not an encryption type/],
      [{ account: 'CORP\\KERBAUTH2', encryptionTypes: 'rc4' }, 'rule_violation', /at least one AES type/],
      [{ account: 'CORP\\KERBAUTH2', extra: 1 }, 'invalid', /extra: is not an allowed property/],
      [{}, 'invalid', /account: is required/],
    ]
    for (const [body, code, message] of cases) {
      const err = await failure(call(Op.create, body))
      assert.equal(err.code, code, `${JSON.stringify(body)}: ${err.message}`)
      assert.match(err.message, message, JSON.stringify(body))
    }
    assert.equal((await failure(call(Op.remove, { account: 'CORP\\NOSUCH' }))).code, 'not_found')
    assert.equal((await failure(call(Op.passwordReset, { account: 'CORP\\NOSUCH' }))).code, 'not_found')
    assert.deepEqual(await computerDns(admin, dc.baseDn), before)
    const keysAfter = [] as string[]
    for await (const k of await kv.keys()) keysAfter.push(k)
    assert.deepEqual(keysAfter.sort(), keysBefore.sort())
  })

  it('two creates of one account at once: exactly one wins, AD and KV agree', async () => {
    const results = await Promise.allSettled([
      call<AccountChange>(Op.create, { account: 'CORP\\RACE01' }),
      call<AccountChange>(Op.create, { account: 'CORP\\RACE01' }),
    ])
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.filter((r) => r.status === 'rejected')
    assert.equal(won.length, 1)
    assert.equal(lost.length, 1)
    assert.match((lost[0] as PromiseRejectedResult).reason.code, /^(conflict|already_exists)$/)
    const ad = await readComputer(admin, dc.baseDn, 'RACE01$')
    const { kvno } = await remember('CORP\\RACE01')
    assert.equal(kvno, ad?.kvno)
  })

  it('refuses to run over an unencrypted LDAP connection', async () => {
    const advice =
      'ldap:// without StartTLS is not encrypted: set KRBFLEET_LDAP_URL to an ldaps:// URL, or KRBFLEET_LDAP_START_TLS=true'
    let refusal: unknown
    await assert.rejects(
      startService(dc, nats, kek.key, logs.logger(), { url: dc.ldapUrl, startTls: false }),
      (err: Error) => {
        refusal = err
        return /cannot use the directory at ldap:\/\/.*ldap:\/\/ without StartTLS is not encrypted/.test(
          err.message,
        )
      },
    )
    // Logged as runService logs a failed start: the advice appears once in the error's message.
    const capture = new LogCapture()
    capture.logger().fatal({ err: refusal }, 'account failed to start')
    const record = JSON.parse(capture.text()) as { err: { message: string } }
    assert.equal(record.err.message.split(advice).length - 1, 1, record.err.message)
  })

  it('resets the password: a keytab from the sealed secret gets a ticket, the old keytab no longer does', async () => {
    const env = { ...process.env, ...kerberosEnv(dc), KRB5CCNAME: `FILE:${join(work, 'cc-account')}` }
    const old = await currentPassword(bus, kek.key, 'CORP\\KERBAUTH')
    const keytabOf = async (name: string, password: string, kvno: number) => {
      const path = join(work, name)
      const entries = deriveAccountKeys({
        password,
        realm: dc.realm,
        samAccountName: 'KERBAUTH$',
        dnsDomain: dc.dnsDomain,
        kvno,
      })
      await writeKeytabFile(path, entries)
      await chmod(path, 0o600)
      return path
    }
    const oldKeytab = await keytabOf('old.keytab', old.password, old.kvno)
    await run('kinit', ['-k', '-t', oldKeytab, 'KERBAUTH$'], { env })

    const change = await call<AccountChange>(Op.passwordReset, { account: 'CORP\\KERBAUTH' })
    assert.equal(change.kvno, old.kvno + 1)
    const ad = await readComputer(admin, dc.baseDn, 'KERBAUTH$')
    assert.equal(ad?.kvno, change.kvno)
    const current = await remember('CORP\\KERBAUTH')
    assert.notEqual(current.password, old.password)
    assert.equal(current.kvno, change.kvno)

    const keytab = await keytabOf('new.keytab', current.password, current.kvno)
    const listing = (await run('klist', ['-kte', keytab], { env })).stdout
    assert.match(
      listing,
      new RegExp(`${current.kvno} .*KERBAUTH\\$@CORP\\.EXAMPLE\\.COM \\(aes256-cts-hmac-sha1-96\\)`),
    )
    assert.match(listing, /KERBAUTH\$@CORP\.EXAMPLE\.COM \(aes128-cts-hmac-sha1-96\)/)
    await run('kinit', ['-k', '-t', keytab, 'KERBAUTH$'], { env })
    const tickets = (await run('klist', [], { env })).stdout
    assert.match(tickets, /Default principal: KERBAUTH\$@CORP\.EXAMPLE\.COM/)
    const refused = await run('kinit', ['-k', '-t', oldKeytab, 'KERBAUTH$'], { env }).then(
      () => undefined,
      (err: { stderr: string }) => err.stderr,
    )
    assert.ok(refused !== undefined, 'the old keytab must no longer get a ticket')
    assert.match(refused, /Preauthentication failed|Password incorrect|key version/i)

    const events = (await streamText(bus, eventsStream)).split('\n').map((l) => JSON.parse(l))
    const reset = events.find((e) => e.type === PasswordReset.type)
    assert.deepEqual(Object.keys(reset.data).sort(), ['account', 'kvno', 'reason'])
    assert.equal(reset.data.kvno, change.kvno)
  })

  it('the reset key is accepted by a real GSSAPI acceptor for HTTP/<pool>', async () => {
    // A pool SPN on the account (spn-sync's job in production), a user ticket for it, and the
    // npm `kerberos` binding accepting it with a keytab written from the sealed secret.
    await admin.modifySpns('CN=KERBAUTH,CN=Computers,DC=corp,DC=example,DC=com', {
      add: ['HTTP/web01.corp.example.com'],
    })
    const current = await currentPassword(bus, kek.key, 'CORP\\KERBAUTH')
    const keytab = join(work, 'gss.keytab')
    await writeKeytabFile(
      keytab,
      deriveAccountKeys({
        password: current.password,
        realm: dc.realm,
        samAccountName: 'KERBAUTH$',
        dnsDomain: dc.dnsDomain,
        kvno: current.kvno,
      }),
    )
    await chmod(keytab, 0o600)
    const userPassword = `Kf7!${Math.random().toString(36).slice(2)}Aa1`
    await createUser(dc, 'alice', userPassword)
    const cc = `FILE:${join(work, 'cc-alice')}`
    const env = { ...process.env, ...kerberosEnv(dc), KRB5CCNAME: cc }
    await run('sh', ['-c', 'printf "%s\\n" "$PW" | kinit alice', 'sh'], { env: { ...env, PW: userPassword } })
    const script = join(import.meta.dirname, 'fixtures', 'gss-accept.ts')
    const { stdout } = await run(process.execPath, [script, 'HTTP@web01.corp.example.com'], {
      env: { ...env, KRB5_KTNAME: `FILE:${keytab}` },
    })
    assert.equal(JSON.parse(stdout).username, 'alice@CORP.EXAMPLE.COM')
  })

  it('tests an account: all checks pass, SPNs unknown while spn-sync does not answer', async () => {
    const report = await call<AccountTestReport>(Op.test, { account: 'CORP\\KERBAUTH' })
    const status = Object.fromEntries(report.checks.map((c) => [c.check, c.status]))
    assert.deepEqual(status, {
      exists: 'pass',
      managed: 'pass',
      'user-account-control': 'pass',
      'encryption-types': 'pass',
      'password-age': 'pass',
      'secret-kvno': 'pass',
      spns: 'unknown',
    })
    assert.equal(report.outcome, 'unknown')
    const missing = await call<AccountTestReport>(Op.test, { account: 'CORP\\NOSUCH' })
    assert.equal(missing.outcome, 'fail')
  })

  it('tests an account against the SPNs spn-sync answers with', async () => {
    // A stand-in responder on the real bus with the spn.desired contract (spn-sync's own tests cover its side).
    const { serveRpc } = await import('@krbfleet/bus')
    const { SpnDesiredRequest, ServiceName, spnOperations } = await import('@krbfleet/contracts')
    const responder = serveRpc(bus, {
      service: ServiceName.SpnSync,
      operation: spnOperations.desired,
      request: SpnDesiredRequest,
      handle: (body) => ({
        account: body.account,
        revision: 1,
        sites: ['Redmond'],
        spns: ['HTTP/web01.corp.example.com', 'HTTP/web02.corp.example.com'],
      }),
    })
    try {
      const report = await call<AccountTestReport>(Op.test, { account: 'CORP\\KERBAUTH' })
      const spns = report.checks.find((c) => c.check === 'spns')
      assert.equal(spns?.status, 'fail')
      assert.match(spns?.detail ?? '', /missing: HTTP\/web02\.corp\.example\.com/)
      assert.equal(report.outcome, 'fail')
    } finally {
      await responder.stop()
    }
  })

  it('removes an account: AD object and KV record are gone, KerberosAccountRemoved is published', async () => {
    const plan = await call<AccountChange>(Op.remove, { account: 'CORP\\WEB256', dryRun: true })
    assert.equal(plan.dryRun, true)
    assert.ok(await readComputer(admin, dc.baseDn, 'WEB256$'))
    await call<AccountChange>(Op.remove, { account: 'CORP\\WEB256' })
    assert.equal(await readComputer(admin, dc.baseDn, 'WEB256$'), undefined)
    const kv = await bus.kv(buckets.accounts)
    const entry = await kv.get(accountKey('CORP\\WEB256'))
    assert.ok(entry === null || entry.operation !== 'PUT')
    const events = (await streamText(bus, eventsStream)).split('\n').map((l) => JSON.parse(l))
    assert.ok(events.some((e) => e.type === KerberosAccountRemoved.type && e.data.account === 'CORP\\WEB256'))
    // Not managed by krbfleet: refused.
    await dc.sambaTool(['computer', 'create', 'FOREIGN'])
    const err = await failure(call(Op.remove, { account: 'CORP\\FOREIGN' }))
    assert.equal(err.code, 'rule_violation')
    assert.ok(await readComputer(admin, dc.baseDn, 'FOREIGN$'))
    // Carrying the marker (a record lost with an old KV store): listed, though krbfleet holds no secret.
    await admin.modify('CN=FOREIGN,CN=Computers,DC=corp,DC=example,DC=com', {
      operation: 'replace',
      attribute: 'description',
      values: ['Managed by krbfleet: restored by hand'],
    })
    const { accounts } = await call<{ accounts: AccountView[] }>(Op.list, {})
    const foreign = accounts.find((a) => a.account === 'CORP\\FOREIGN')
    assert.equal(foreign?.managed, false)
    assert.equal(foreign?.existsInDirectory, true)
    assert.equal(
      accounts.find((a) => a.account === 'CORP\\WEB256'),
      undefined,
    )
  })

  it('reports an unreachable DC clearly and changes nothing', async () => {
    const kv = await bus.kv(buckets.accounts)
    await dc.kill()
    try {
      const err = await failure(call(Op.create, { account: 'CORP\\DOWN01' }))
      assert.equal(err.code, 'unavailable', err.message)
      assert.match(err.message, /LDAP|directory|DC|connect/i)
      assert.equal(await kv.get(accountKey('CORP\\DOWN01')), null)
    } finally {
      await dc.start()
    }
    assert.equal(await readComputer(admin, dc.baseDn, 'DOWN01$'), undefined)
    // And the service works again once the DC is back.
    await call(Op.create, { account: 'CORP\\DOWN01' })
    await remember('CORP\\DOWN01')
  })

  it('after a crash between the KV step and the AD write, start-up settles each pending secret from AD', async () => {
    // Three crashes, staged by hand: a reset whose AD write happened, a reset whose AD write did
    // not, and a create that never reached AD. Then the service starts again with the same KEK.
    await service.stop()
    const kv = await bus.kv(buckets.accounts)
    const box = new KekSecretBox(kek.key)
    const stage = async (account: string, pending: PendingSecret) => {
      const entry = await kv.get(accountKey(account))
      const record = entry?.operation === 'PUT' ? AccountRecordCodec.decode(entry.json()) : undefined
      const base = record ?? {
        account,
        dn: `CN=${account.split('\\')[1]},CN=Computers,DC=corp,DC=example,DC=com`,
        samAccountName: `${account.split('\\')[1]}$`,
        dnsHostName: `${account.split('\\')[1]?.toLowerCase()}.corp.example.com`,
        encryptionTypes: 24,
        adopted: false,
        createdAt: new Date().toISOString(),
        updatedAt: new Date().toISOString(),
        secret: null,
      }
      await kv.put(accountKey(account), JSON.stringify({ ...base, pending }))
    }
    const written = `${randomUUID()}${randomUUID()}`
    const notWritten = `${randomUUID()}${randomUUID()}`
    seenPasswords.add(written).add(notWritten)
    const kerbauth = await currentPassword(bus, kek.key, 'CORP\\KERBAUTH')
    const handmade = await currentPassword(bus, kek.key, 'CORP\\HANDMADE')
    const startedAt = new Date().toISOString()
    await stage('CORP\\KERBAUTH', {
      sealed: box.seal('CORP\\KERBAUTH', written),
      operation: 'reset',
      previousKvno: kerbauth.kvno,
      startedAt,
    })
    await admin.setPassword(kerbauth.record.dn, written)
    await stage('CORP\\HANDMADE', {
      sealed: box.seal('CORP\\HANDMADE', notWritten),
      operation: 'reset',
      previousKvno: handmade.kvno,
      startedAt,
    })
    await stage('CORP\\GHOST', {
      sealed: box.seal('CORP\\GHOST', notWritten),
      operation: 'create',
      previousKvno: null,
      startedAt,
    })

    service = await startService(dc, nats, kek.key, logs.logger())
    const afterKerbauth = await currentPassword(bus, kek.key, 'CORP\\KERBAUTH')
    assert.equal(afterKerbauth.password, written)
    assert.equal(afterKerbauth.kvno, kerbauth.kvno + 1)
    assert.equal(afterKerbauth.record.pending, null)
    assert.equal((await readComputer(admin, dc.baseDn, 'KERBAUTH$'))?.kvno, afterKerbauth.kvno)
    const afterHandmade = await currentPassword(bus, kek.key, 'CORP\\HANDMADE')
    assert.equal(afterHandmade.password, handmade.password)
    assert.equal(afterHandmade.record.pending, null)
    const ghost = await kv.get(accountKey('CORP\\GHOST'))
    assert.ok(ghost === null || ghost.operation !== 'PUT')
  })

  it('never holds a password in clear: KV history, events and logs', async () => {
    assert.ok(seenPasswords.size >= 4)
    const haystacks = {
      kv: await streamText(bus, accountsStream),
      events: await streamText(bus, eventsStream),
      logs: logs.text(),
    }
    assert.ok(haystacks.logs.includes('account created'), 'the logs were captured')
    for (const [where, text] of Object.entries(haystacks)) {
      for (const password of seenPasswords) {
        assert.equal(text.includes(password), false, `a password appears in clear in ${where}`)
        const utf16 = Buffer.from(`"${password}"`, 'utf16le').toString('base64')
        assert.equal(text.includes(utf16), false, `a unicodePwd value appears in ${where}`)
      }
    }
  })
})
