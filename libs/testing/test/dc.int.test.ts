import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { promisify } from 'node:util'
import { Client } from 'ldapts'
import {
  addressLockRoot,
  adminClient,
  createUser,
  isProcessAlive,
  kerberosEnv,
  kinit,
  leaseLoopbackAddress,
  lockOwner,
  setPassword,
  startDc,
  type TestDc,
} from '../src/index.ts'

const run = promisify(execFile)

async function findAccount(dc: TestDc, name: string): Promise<string[]> {
  const client = await adminClient(dc)
  try {
    const { searchEntries } = await client.search(dc.baseDn, {
      filter: `(sAMAccountName=${name})`,
      attributes: ['sAMAccountName'],
    })
    return searchEntries.map((entry) => entry.dn)
  } finally {
    await client.unbind()
  }
}

/** A freed address may be free, or leased at once by another test file's live process (files run in parallel). */
function assertHeldByLiveOtherOrFree(owner: number | undefined, formerOwner: number | undefined): void {
  if (owner === undefined) return
  assert.notEqual(owner, formerOwner)
  assert.equal(isProcessAlive(owner), true)
}

/** Polls a condition that the system converges to (no timed assertion: the deadline only bounds a hang). */
async function eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('a DC starts from the template and answers LDAPS with its own CA', async (t) => {
  const began = Date.now()
  const dc = await startDc()
  t.after(() => dc.stop())
  t.diagnostic(`startDc ${Date.now() - began} ms; ${JSON.stringify(dc.timings)}`)
  assert.match(dc.address, /^127\.0\.0\.(\d+)$/)
  assert.equal(dc.realm, 'CORP.EXAMPLE.COM')
  assert.equal(dc.ldapsUrl, `ldaps://${dc.address}:636`)

  // The TLS handshake verifies the chain against the DC's CA and the certificate's name.
  const ca = await readFile(dc.caFile)
  const authorized = await new Promise<boolean>((resolve, reject) => {
    const socket = tlsConnect({ host: dc.address, port: 636, ca, servername: dc.tlsServername })
    socket.once('secureConnect', () => {
      resolve(socket.authorized)
      socket.destroy()
    })
    socket.once('error', reject)
  })
  assert.equal(authorized, true)

  // ldapsearch over LDAPS, trusting only this CA: the base object is the domain.
  const { stdout } = await run(
    'ldapsearch',
    [
      '-LLL',
      '-x',
      '-H',
      dc.ldapsUrl,
      '-D',
      dc.adminDn,
      '-y',
      join(dc.dir, 'admin-password'),
      '-b',
      dc.baseDn,
      '-s',
      'base',
      'dn',
    ],
    // The certificate names DC1.corp.example.com and we connect by address, which OpenLDAP's
    // name check cannot map; the chain itself is verified by the TLS check above.
    { env: { ...process.env, LDAPTLS_CACERT: dc.caFile, LDAPTLS_REQCERT: 'allow' } },
  )
  assert.match(stdout, /^dn: DC=corp,DC=example,DC=com$/m)

  // ldapts, as the product uses it.
  assert.deepEqual(await findAccount(dc, 'Administrator'), [dc.adminDn])

  // StartTLS on 389 with the same CA; a simple bind without TLS is refused (strong auth required).
  const plain = new Client({ url: dc.ldapUrl })
  await assert.rejects(plain.bind(dc.adminDn, dc.adminPassword), { name: 'StrongAuthRequiredError' })
  await plain.unbind()
  const upgraded = new Client({ url: dc.ldapUrl })
  await upgraded.startTLS({ ca, servername: dc.tlsServername })
  await upgraded.bind(dc.adminDn, dc.adminPassword)
  await upgraded.unbind()

  // Secrets stay private to root.
  assert.equal((await stat(join(dc.dir, 'admin-password'))).mode & 0o077, 0)
})

test('two DCs run at once on different addresses, each with its own data', async (t) => {
  const [first, second] = await Promise.all([startDc(), startDc()])
  t.after(() => Promise.all([first.stop(), second.stop()]))
  assert.notEqual(first.address, second.address)
  await createUser(first, 'onlyfirst', 'Only-First-1!pw')
  await createUser(second, 'onlysecond', 'Only-Second-2!pw')
  assert.equal((await findAccount(first, 'onlyfirst')).length, 1)
  assert.equal((await findAccount(first, 'onlysecond')).length, 0)
  assert.equal((await findAccount(second, 'onlysecond')).length, 1)
  assert.equal((await findAccount(second, 'onlyfirst')).length, 0)
})

test('kinit Administrator works with the generated krb5.conf, and a service ticket can be had', async (t) => {
  const dc = await startDc()
  t.after(() => dc.stop())
  await kinit(dc, 'Administrator', dc.adminPassword)
  const env = { ...process.env, ...kerberosEnv(dc) }
  const { stdout } = await run('klist', [], { env })
  assert.match(stdout, /Default principal: Administrator@CORP\.EXAMPLE\.COM/)
  assert.match(stdout, /krbtgt\/CORP\.EXAMPLE\.COM@CORP\.EXAMPLE\.COM/)

  // An account with keys and an SPN, reached through the KDC (kvno asks for a service ticket).
  // (samba-tool computer create sets no password, so such an account has no keys to issue with.)
  await createUser(dc, 'websvc', 'Web-Service-1!pw')
  await dc.sambaTool(['spn', 'add', 'HTTP/web01.corp.example.com', 'websvc'])
  const kvno = await run('kvno', ['HTTP/web01.corp.example.com'], { env })
  assert.match(kvno.stdout, /HTTP\/web01\.corp\.example\.com@CORP\.EXAMPLE\.COM: kvno = \d+/)

  await assert.rejects(kinit(dc, 'Administrator', 'wrong-password'), /kinit Administrator failed/)
})

test('restart keeps the data; kill and start keep the folder and address', async (t) => {
  const dc = await startDc()
  t.after(() => dc.stop())
  await createUser(dc, 'survivor', 'Survivor-1!pw')
  const pidBefore = dc.pid
  await dc.restart()
  assert.notEqual(dc.pid, pidBefore)
  assert.equal((await findAccount(dc, 'survivor')).length, 1)

  await dc.kill()
  assert.equal(dc.pid, undefined)
  await assert.rejects(findAccount(dc, 'survivor'))
  await dc.start()
  assert.equal((await findAccount(dc, 'survivor')).length, 1)
})

test('stop() deletes the folder and frees the address', async () => {
  const dc = await startDc()
  const { dir, address } = dc
  assert.equal(existsSync(join(addressLockRoot, address)), true)
  await dc.stop()
  assert.equal(existsSync(dir), false)
  assertHeldByLiveOtherOrFree(await lockOwner(join(addressLockRoot, address)), process.pid)
})

test('samba dies when the process that started it is SIGKILLed', async (t) => {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'dc-child.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.after(() => child.kill('SIGKILL'))
  const lines = createInterface({ input: child.stdout })
  const [line] = (await once(lines, 'line')) as [string]
  const started = JSON.parse(line) as { pid: number; address: string; dir: string }
  t.after(() => rm(started.dir, { recursive: true, force: true }))
  assert.equal(isProcessAlive(started.pid), true)

  child.kill('SIGKILL')
  await once(child, 'exit')
  await eventually(() => !isProcessAlive(started.pid), `samba pid ${started.pid} to exit`)

  // The next startDc() deletes the folder the dead process left behind.
  const dc = await startDc()
  t.after(() => dc.stop())
  assert.equal(existsSync(started.dir), false)

  // Its address is leased to a dead process now, and that blocks nobody: the address can be
  // leased again. Test files run in parallel, so another file's DC may have reclaimed it first;
  // then its lock names that live process, not the dead one.
  if (dc.address === started.address) return
  const lease = await leaseLoopbackAddress({ address: started.address }).catch((error: Error) => {
    if (!/leased by another live process/.test(error.message)) throw error
  })
  if (lease) await lease.release()
  else assertHeldByLiveOtherOrFree(await lockOwner(join(addressLockRoot, started.address)), child.pid)
})

test('sambaTool runs against the local sam.ldb, over LDAP as Administrator, and without -H where none is taken', async (t) => {
  const dc = await startDc()
  t.after(() => dc.stop())
  await dc.sambaTool(['ou', 'create', `OU=Harness,${dc.baseDn}`])
  // Written to sam.ldb while Samba runs; Samba's LDAP server sees it.
  const client = await adminClient(dc)
  try {
    const { searchEntries } = await client.search(`OU=Harness,${dc.baseDn}`, { scope: 'base' })
    assert.equal(searchEntries.length, 1)
  } finally {
    await client.unbind()
  }
  assert.match(await dc.sambaTool(['user', 'list'], { via: 'ldap' }), /^Administrator$/m)
  assert.match(await dc.sambaTool(['domain', 'info', dc.address]), /Domain\s*:\s*corp\.example\.com/)
  await assert.rejects(dc.sambaTool(['user', 'show', 'nobody-here']), /samba-tool user show failed/)
})

test('a DC in a caller-given folder is kept by stop() and comes back with its data (the lab)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'krbfleet-kept-dc-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const first = await startDc({ dir, keep: true })
  await createUser(first, 'kept', 'Kept-User-1!pw')
  await first.stop()
  assert.equal(existsSync(join(dir, 'dc', 'private', 'sam.ldb')), true)

  const again = await startDc({ dir, keep: true })
  t.after(() => again.stop())
  assert.equal(again.adminPassword, first.adminPassword)
  assert.equal((await findAccount(again, 'kept')).length, 1)
})

test('a DC that cannot start fails at once with samba log lines and gives its address back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'krbfleet-broken-dc-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const dc = await startDc({ dir, keep: true })
  await dc.stop()
  await rm(join(dir, 'dc', 'private', 'sam.ldb'))
  // No fixed address: a test file running in parallel may take the one just given back.
  const error = await startDc({ dir, keep: true }).then(
    () => assert.fail('a DC without its sam.ldb started'),
    (reason: Error) => reason,
  )
  const match =
    /samba on (127\.0\.0\.\d+) exited with code 1 during start-up.*failed to prime database/s.exec(
      error.message,
    )
  assert.ok(match?.[1], `unexpected error: ${error.message}`)
  // Given back: free, or already leased again by another live process.
  assertHeldByLiveOtherOrFree(await lockOwner(join(addressLockRoot, match[1])), process.pid)
})

test('createUser makes an enabled user who can kinit, setPassword changes it, and refuses names that would need escaping', async (t) => {
  const dc = await startDc()
  t.after(() => dc.stop())
  const dn = await createUser(dc, 'alice', 'Alice-Password-1!')
  assert.equal(dn, `CN=alice,CN=Users,${dc.baseDn}`)
  assert.deepEqual(await findAccount(dc, 'alice'), [dn])
  await kinit(dc, 'alice', 'Alice-Password-1!')
  const { stdout } = await run('klist', [], { env: { ...process.env, ...kerberosEnv(dc) } })
  assert.match(stdout, /Default principal: alice@CORP\.EXAMPLE\.COM/)
  await setPassword(dc, dn, 'Alice-Password-2!')
  await kinit(dc, 'alice', 'Alice-Password-2!')
  await assert.rejects(kinit(dc, 'alice', 'Alice-Password-1!'), /kinit alice failed/)
  await assert.rejects(createUser(dc, 'bad,name', 'Alice-Password-1!'), /createUser: name "bad,name" must be/)
  await assert.rejects(createUser(dc, 'weak', 'short'))
  assert.deepEqual(await findAccount(dc, 'weak'), [])
})
