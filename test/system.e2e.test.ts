/**
 * krbfleet end to end: an operator drives the whole system with the real `krbfleet` CLI and the
 * console's HTTP API; topology, account and console run in this process and spn-sync as a child
 * process, against ONE real nats-server and ONE real Samba AD DC. Every assertion reads the final
 * state of the world: AD attributes through an admin LDAPS client, the events stream, a 200 from a
 * real GSSAPI acceptor. The steps build on each other, in order (as an operator's session would).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { chmod, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import {
  type AccountChange,
  type AccountTestReport,
  accountOperations,
  buckets,
  ChangeRecorded,
  type EventEnvelope,
  KerberosAccountAssigned,
  KerberosAccountCreated,
  PasswordReset,
  PoolAdded,
  PoolRemoved,
  ServerAddedToSite,
  ServerRemovedFromSite,
  SiteAdded,
  type SpnDuplicates,
  type SpnListing,
  type SpnPlan,
  type SpnQueryResult,
  SpnsReconciled,
  streams,
  TopologyEnabled,
} from '@krbfleet/contracts'
import { deriveAccountKeys, writeKeytabFile } from '@krbfleet/kerberos'
import { createUser, kerberosEnv } from '@krbfleet/testing'
import { nodeBin, type System, startSystem, tail, tokens } from './support/system.ts'

const run = promisify(execFile)

const ACCOUNT = 'CORP\\KERBWEB'
const SAM = 'KERBWEB$'

/** Pool 1 (site dublin): every kind of name. */
const pool01Spns = [
  'HTTP/lb01.corp.example.com',
  'HTTP/meet.corp.example.com',
  'HTTP/pool01.corp.example.com',
  'HTTP/web-int01.corp.example.com',
  'HTTP/web01.example.com',
]
/** Pool 2 (site cork): a load-balancer name and short-name SPNs. */
const pool02Spns = ['HTTP/lb02', 'HTTP/lb02.corp.example.com', 'HTTP/pool02', 'HTTP/pool02.corp.example.com']
const sorted = (values: Iterable<string>) => [...values].sort()
const same = (a: string[], b: string[]) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b))

describe('krbfleet end to end: CLI and API -> console -> topology/account/spn-sync -> AD', {
  timeout: 600_000,
}, () => {
  let system: System
  /** Every password the account service set (opened with the KEK): none may appear in clear anywhere. */
  const passwords = new Set<string>()
  /** Everything the CLI printed and the API answered. */
  const answers: string[] = []

  const cli = async (args: string[], role: keyof typeof tokens = 'admin') => {
    const result = await system.cli(args, role)
    answers.push(result.stdout, result.stderr)
    assert.equal(
      result.code,
      0,
      `krbfleet ${args.join(' ')} -> exit ${result.code}\n${result.stdout}${result.stderr}`,
    )
    return result
  }
  const cliJson = async <T>(args: string[], role: keyof typeof tokens = 'admin') =>
    JSON.parse((await cli([...args, '--json'], role)).stdout) as T

  /** Waits until the account holds exactly `expected` in AD, then asserts it (with the spn-sync log on failure). */
  const expectSpns = async (expected: string[], what: string) => {
    await system
      .eventually(async () => same(await system.spnsOf(SAM), expected), what)
      .catch(async (err) => {
        assert.fail(
          `${(err as Error).message}\nAD holds: ${(await system.spnsOf(SAM)).join(', ')}\nspn-sync log:\n${await tail(system.spnSyncLog)}`,
        )
      })
    assert.deepEqual(await system.spnsOf(SAM), sorted(expected))
  }

  before(async () => {
    system = await startSystem()
  })
  after(async () => {
    await system?.stop()
  })

  it('an operator creates the account, builds 2 sites with the CLI and enables: exactly the pool SPNs appear in AD', async () => {
    const created = await cliJson<AccountChange>(['account', 'new', ACCOUNT])
    assert.equal(created.action, 'create')
    assert.equal(created.dn, 'CN=KERBWEB,CN=Computers,DC=corp,DC=example,DC=com')
    passwords.add((await system.accountSecret(ACCOUNT)).password)

    await cli(['site', 'add', 'dublin'])
    await cli(['site', 'add', 'cork'])
    await cli([
      'pool',
      'add',
      'pool01.corp.example.com',
      '--site',
      'dublin',
      '--internal-web-fqdn',
      'web-int01.corp.example.com',
      '--external-web-fqdn',
      'web01.example.com',
      '--load-balancer',
      'lb01.corp.example.com',
      '--alias',
      'meet.corp.example.com',
    ])
    // Upper case on input: the topology stores FQDNs lower-case (RFC 1123 names are case-insensitive).
    await cli([
      'pool',
      'add',
      'POOL02.corp.example.com',
      '--site',
      'cork',
      '--load-balancer',
      'lb02.corp.example.com',
      '--short-name-spns',
    ])
    for (const [server, pool, backend] of [
      ['web01a.corp.example.com', 'pool01.corp.example.com', 'iis'],
      ['web01b.corp.example.com', 'pool01.corp.example.com', 'iis'],
      ['web02a.corp.example.com', 'pool02.corp.example.com', 'keytab'],
      ['web02b.corp.example.com', 'pool02.corp.example.com', 'keytab'],
    ] as const) {
      await cli(['server', 'add', server, '--pool', pool, '--backend', backend])
    }
    await cli(['assignment', 'new', 'dublin', ACCOUNT])
    await cli(['assignment', 'new', 'cork', 'corp\\kerbweb'])

    // A draft is not acted on: nothing in AD until the topology is enabled.
    assert.deepEqual(await system.spnsOf(SAM), [])
    const servers = await cliJson<{ servers: Array<{ fqdn: string }> }>(['server', 'list'])
    assert.equal(servers.servers.length, 4)

    const enabled = await cliJson<{ enabledRevision?: number }>(['topology', 'enable'])
    assert.equal(enabled.enabledRevision, 1)
    await expectSpns([...pool01Spns, ...pool02Spns], 'the SPNs of both pools on KERBWEB$')

    // The setspn views through the CLI agree with AD: all managed and desired, nothing to do.
    const listing = await cliJson<SpnListing>(['spn', 'list', ACCOUNT], 'viewer')
    assert.deepEqual(
      listing.spns.map((s) => [s.spn, s.managed, s.desired]),
      sorted([...pool01Spns, ...pool02Spns]).map((s) => [s, true, true]),
    )
    assert.deepEqual(listing.missing, [])
    const plan = await cliJson<SpnPlan>(['spn', 'plan'], 'viewer')
    assert.equal(plan.revision, 1)
    assert.deepEqual(
      plan.accounts.map((a) => [a.account, a.add, a.remove, a.conflicts]),
      [[ACCOUNT, [], [], []]],
    )
    const query = await cliJson<SpnQueryResult>(['spn', 'query', 'http/POOL01.corp.example.com'], 'viewer')
    assert.deepEqual(
      query.holders.map((h) => h.samAccountName),
      [SAM],
    )
    assert.deepEqual((await cliJson<SpnDuplicates>(['spn', 'duplicates'], 'viewer')).duplicates, [])
  })

  it('`krbfleet test account` reports the account healthy, its SPNs present', async () => {
    const report = await cliJson<AccountTestReport>(['test', 'account', ACCOUNT], 'operator')
    assert.equal(report.outcome, 'pass', JSON.stringify(report.checks))
    const spns = report.checks.find((c) => c.check === 'spns')
    assert.equal(spns?.status, 'pass', spns?.detail)
    assert.ok(
      report.checks.every((c) => c.status === 'pass'),
      JSON.stringify(report.checks),
    )
    const human = await cli(['test', 'account', ACCOUNT], 'operator')
    assert.match(human.stdout, /CORP\\KERBWEB: PASS/)
    // A viewer may not run tests (they query AD and spn-sync on demand).
    const refused = await system.cli(['test', 'account', ACCOUNT], 'viewer')
    assert.equal(refused.code, 1)
    assert.match(refused.stderr + refused.stdout, /operator/)
  })

  it('bad input is refused with a clear message naming the field, changes nothing, and is audited', async () => {
    const draftBefore = await system.api('GET', '/v1/topology')
    const eventsBefore = (await system.events()).length
    const refusals: Array<[string[], RegExp]> = [
      [['pool', 'add', 'bad_name..corp.example.com', '--site', 'dublin'], /fqdn/],
      [['pool', 'add', 'pool09.corp.example.com', '--site', 'nowhere'], /site/],
      [['assignment', 'set', 'dublin', 'CORP\\ABCDEFGHIJKLMNOP'], /15/],
      [['server', 'add', 'web01a.corp.example.com', '--pool', 'pool02.corp.example.com'], /web01a/],
      [['account', 'new', 'KERBWEB2'], /DOMAIN\\NAME/],
      [['account', 'new', 'CORP\\KERBWEB'], /already exists/],
    ]
    for (const [args, message] of refusals) {
      const result = await system.cli(args)
      answers.push(result.stdout, result.stderr)
      assert.equal(result.code, 1, `krbfleet ${args.join(' ')} must be refused: ${result.stdout}`)
      assert.match(result.stderr, message, `krbfleet ${args.join(' ')}`)
    }
    // A viewer may not change the topology: 403, nothing written.
    const forbidden = await system.api<{ error: { code: string } }>('POST', '/v1/sites', {
      role: 'viewer',
      body: { name: 'galway' },
    })
    assert.equal(forbidden.status, 403)
    assert.deepEqual((await system.api('GET', '/v1/topology')).body, draftBefore.body)
    assert.deepEqual(await system.spnsOf(SAM), sorted([...pool01Spns, ...pool02Spns]))
    // Only audit records were added, every one of them a refusal.
    const added = (await system.events()).slice(eventsBefore)
    assert.ok(added.length >= refusals.length, `${added.length} audit records`)
    for (const event of added) {
      assert.equal(event.type, ChangeRecorded.type)
      assert.equal((event.data as { outcome: string }).outcome, 'refused', JSON.stringify(event.data))
    }
  })

  it('a key end to end: reset through the API; a keytab from the KEK-opened secret gets a 200 from a GSSAPI acceptor for HTTP/<pool>', async (t) => {
    const env = { ...process.env, ...kerberosEnv(system.dc) }
    const keytab = join(system.work, 'http.keytab')
    const installKeytab = async (name: string, secret: { password: string; kvno: number }) => {
      // Written beside, then renamed over: the acceptor reads the keytab on each request.
      const path = join(system.work, name)
      await writeKeytabFile(
        path,
        deriveAccountKeys({
          password: secret.password,
          realm: system.dc.realm,
          samAccountName: SAM,
          dnsDomain: system.dc.dnsDomain,
          kvno: secret.kvno,
        }),
      )
      await chmod(path, 0o600)
      await rename(path, keytab)
    }

    // The web server: the real GSSAPI acceptor with that keytab.
    const before = await system.accountSecret(ACCOUNT)
    assert.equal(before.kvno, await system.kvnoOf(SAM))
    await installKeytab('http-1.keytab', before)
    const server: ChildProcess = spawn(
      nodeBin,
      [join(import.meta.dirname, 'fixtures', 'negotiate-server.ts')],
      {
        env: { ...env, KRB5_KTNAME: `FILE:${keytab}` },
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    )
    t.after(() => {
      server.stdin?.end()
      server.kill()
    })
    const port = await new Promise<number>((resolvePort, reject) => {
      server.stdout?.once('data', (chunk: Buffer) => resolvePort(JSON.parse(chunk.toString()).port))
      server.once('exit', (code) => reject(new Error(`the negotiate server exited (${code})`)))
    })
    const url = `http://127.0.0.1:${port}/`

    // A lab user and a browser: kinit, then a ticket for HTTP/pool01.corp.example.com.
    const userPassword = `Lab-${Math.random().toString(36).slice(2)}-Aa1!`
    await createUser(system.dc, 'labuser', userPassword)
    let ccacheCount = 0
    const browse = async () => {
      ccacheCount += 1
      const ccache = `FILE:${join(system.work, `cc-labuser-${ccacheCount}`)}`
      const userEnv = { ...env, KRB5CCNAME: ccache }
      await run('sh', ['-c', 'printf "%s\\n" "$PW" | kinit labuser', 'sh'], {
        env: { ...userEnv, PW: userPassword },
      })
      const { stdout } = await run(
        nodeBin,
        [join(import.meta.dirname, 'fixtures', 'negotiate-client.ts'), 'HTTP@pool01.corp.example.com', url],
        { env: userEnv },
      )
      const klist = (await run('klist', [], { env: userEnv })).stdout
      return { ...(JSON.parse(stdout) as { status: number; body: { user?: string; error?: string } }), klist }
    }

    const anonymous = await fetch(url)
    assert.equal(anonymous.status, 401)
    assert.equal(anonymous.headers.get('www-authenticate'), 'Negotiate')
    const first = await browse()
    assert.equal(first.status, 200, JSON.stringify(first.body))
    assert.equal(first.body.user, 'labuser@CORP.EXAMPLE.COM')
    assert.match(first.klist, /HTTP\/pool01\.corp\.example\.com@CORP\.EXAMPLE\.COM/)

    // The operator resets the password through the console API.
    const reset = await system.api<AccountChange>('POST', '/v1/accounts/CORP.KERBWEB/password-reset', {
      role: 'operator',
    })
    answers.push(JSON.stringify(reset.body))
    assert.equal(reset.status, 200, JSON.stringify(reset.body))
    assert.equal(reset.body.action, 'password-reset')
    assert.equal(reset.body.kvno, before.kvno + 1)
    assert.equal(await system.kvnoOf(SAM), before.kvno + 1)
    const afterReset = await system.accountSecret(ACCOUNT)
    passwords.add(afterReset.password)
    assert.notEqual(afterReset.password, before.password)
    assert.equal(afterReset.kvno, before.kvno + 1)

    // A new ticket is made with the new key: the old keytab refuses it, the new one accepts it.
    const stale = await browse()
    assert.equal(stale.status, 401, 'a keytab with only the old kvno must refuse a ticket of the new kvno')
    await installKeytab('http-2.keytab', afterReset)
    const fresh = await browse()
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body))
    assert.equal(fresh.body.user, 'labuser@CORP.EXAMPLE.COM')
  })

  it('removing a pool and enabling takes exactly its SPNs off the account', async () => {
    await cli(['pool', 'remove', 'pool02.corp.example.com', '--force'])
    // Still there: the removal is in the draft only.
    assert.deepEqual(await system.spnsOf(SAM), sorted([...pool01Spns, ...pool02Spns]))
    const enabled = await cliJson<{ enabledRevision?: number }>(['topology', 'enable'])
    assert.equal(enabled.enabledRevision, 2)
    await expectSpns(pool01Spns, 'pool02 SPNs removed from KERBWEB$')
  })

  it('the event stream holds every step, each with its actor', async () => {
    // spn-sync publishes SpnsReconciled after its LDAP modify: wait for the one of revision 2.
    await system.eventually(
      async () =>
        (await system.events()).some(
          (e) => e.type === SpnsReconciled.type && (e.data as { revision: number }).revision === 2,
        ),
      'SpnsReconciled of revision 2',
    )
    const events = await system.events()
    const ofType = (type: string) => events.filter((e) => e.type === type)
    const admin = `token:${tokens.admin.name}`
    const operator = `token:${tokens.operator.name}`
    const data = <T>(e: EventEnvelope) => e.data as T

    assert.deepEqual(
      ofType(SiteAdded.type).map((e) => [data<{ site: string }>(e).site, e.actor]),
      [
        ['dublin', admin],
        ['cork', admin],
      ],
    )
    assert.deepEqual(
      ofType(PoolAdded.type).map((e) => [data<{ pool: { fqdn: string } }>(e).pool.fqdn, e.actor]),
      [
        ['pool01.corp.example.com', admin],
        ['pool02.corp.example.com', admin],
      ],
    )
    assert.equal(ofType(ServerAddedToSite.type).length, 4)
    assert.deepEqual(
      ofType(KerberosAccountAssigned.type).map((e) => [data<{ site: string; account: string }>(e), e.actor]),
      [
        [{ site: 'dublin', account: ACCOUNT }, admin],
        [{ site: 'cork', account: ACCOUNT }, admin],
      ],
    )
    assert.deepEqual(
      ofType(PoolRemoved.type).map((e) => [data<{ pool: string }>(e).pool, e.actor]),
      [['pool02.corp.example.com', admin]],
    )
    assert.deepEqual(
      sorted(ofType(ServerRemovedFromSite.type).map((e) => data<{ server: string }>(e).server)),
      ['web02a.corp.example.com', 'web02b.corp.example.com'],
    )
    const enables = ofType(TopologyEnabled.type)
    assert.deepEqual(
      enables.map((e) => [data<{ revision: number }>(e).revision, e.actor]),
      [
        [1, admin],
        [2, admin],
      ],
    )
    assert.deepEqual(data<{ summary: { poolsRemoved: string[] } }>(enables[1]!).summary.poolsRemoved, [
      'pool02.corp.example.com',
    ])
    const created = ofType(KerberosAccountCreated.type)
    assert.deepEqual(
      created.map((e) => [data<{ account: string }>(e).account, e.actor]),
      [[ACCOUNT, admin]],
    )
    const resets = ofType(PasswordReset.type)
    assert.equal(resets.length, 1)
    assert.equal(resets[0]?.actor, operator)
    assert.deepEqual(Object.keys(resets[0]!.data as object).sort(), ['account', 'kvno', 'reason'])

    // spn-sync acts as itself (a level-triggered reconcile keyed by account, not by the request).
    const reconciled = ofType(SpnsReconciled.type).map((e) => ({
      ...data<{ account: string; added: string[]; removed: string[]; revision: number }>(e),
      actor: e.actor,
    }))
    const first = reconciled.find((r) => r.revision === 1 && r.added.length > 0)
    assert.ok(first, JSON.stringify(reconciled))
    assert.equal(first.account, ACCOUNT)
    assert.equal(first.actor, 'service:spn-sync')
    assert.deepEqual(sorted(first.added), sorted([...pool01Spns, ...pool02Spns]))
    assert.deepEqual(first.removed, [])
    const second = reconciled.find((r) => r.revision === 2 && r.removed.length > 0)
    assert.ok(second, JSON.stringify(reconciled))
    assert.deepEqual(sorted(second.removed), sorted(pool02Spns))
    assert.deepEqual(second.added, [])

    // The audit trail: every change through the console, applied, with its actor.
    const audit = ofType(ChangeRecorded.type).map((e) => ({
      ...data<{ action: string; target: string; outcome: string }>(e),
      actor: e.actor,
    }))
    const applied = (action: string) => audit.filter((a) => a.action === action && a.outcome === 'applied')
    assert.deepEqual(
      applied(accountOperations.create).map((a) => [a.target, a.actor]),
      [[`account:${ACCOUNT}`, admin]],
    )
    assert.equal(applied('site.add').length, 2)
    assert.equal(applied('pool.add').length, 2)
    assert.equal(applied('server.add').length, 4)
    assert.equal(applied('assignment.new').length, 2)
    assert.equal(applied('topology.enable').length, 2)
    assert.equal(applied('pool.remove').length, 1)
    assert.deepEqual(
      applied(accountOperations.passwordReset).map((a) => [a.target, a.actor]),
      [[`account:${ACCOUNT}`, operator]],
    )
    assert.ok(audit.filter((a) => a.outcome === 'applied').every((a) => a.actor.startsWith('token:')))
  })

  it('spn-sync SIGKILLed: a change enabled while it is down is applied when it starts again', async () => {
    await system.spnSync.kill()
    assert.equal(system.spnSync.running, false)
    await cli([
      'pool',
      'add',
      'pool03.corp.example.com',
      '--site',
      'cork',
      '--alias',
      'portal.corp.example.com',
    ])
    const enabled = await cliJson<{ enabledRevision?: number }>(['topology', 'enable'])
    assert.equal(enabled.enabledRevision, 3)
    // Nobody writes SPNs while spn-sync is down.
    assert.deepEqual(await system.spnsOf(SAM), sorted(pool01Spns))

    await system.spnSync.start()
    const pool03Spns = ['HTTP/pool03.corp.example.com', 'HTTP/portal.corp.example.com']
    await expectSpns([...pool01Spns, ...pool03Spns], 'pool03 SPNs after spn-sync came back')
  })

  it('nats-server restarted under the running services: a later change still converges', async () => {
    await system.nats.restart()
    // The operator waits for the console to be ready again (its NATS connection is back).
    await system.eventually(async () => (await system.api('GET', '/readyz')).status === 200, 'console ready')
    await system.eventually(() => system.account!.bus.isConnected(), 'account service reconnected')
    // The topology service has its own connection: a change sent before it has resubscribed meets
    // "no responders" (503). A read answered over RPC proves it is back.
    await system.eventually(
      async () => (await system.api('GET', '/v1/sites')).status === 200,
      'topology service answering',
    )

    await cli(['pool', 'set', 'pool03.corp.example.com', '--load-balancer', 'lb03.corp.example.com'])
    const enabled = await cliJson<{ enabledRevision?: number }>(['topology', 'enable'])
    assert.equal(enabled.enabledRevision, 4)
    await expectSpns(
      [
        ...pool01Spns,
        'HTTP/pool03.corp.example.com',
        'HTTP/portal.corp.example.com',
        'HTTP/lb03.corp.example.com',
      ],
      'lb03 SPN after the NATS restart',
    )
    // And the account service answers over the restarted bus too.
    const report = await cliJson<AccountTestReport>(['test', 'account', ACCOUNT], 'operator')
    assert.equal(report.outcome, 'pass', JSON.stringify(report.checks))
  })

  it('no password in clear anywhere: events, KV history, logs, CLI output and API answers', async () => {
    assert.equal(passwords.size, 2)
    const haystacks: Record<string, string> = {
      events: await system.streamText(streams.events.name),
      'accounts KV': await system.streamText(`KV_${buckets.accounts.bucket}`),
      'topology KV': await system.streamText(`KV_${buckets.topology.bucket}`),
      'in-process logs': system.logs.text(),
      'spn-sync log': await tail(system.spnSyncLog, 100_000),
      'CLI output and API answers': answers.join('\n'),
    }
    assert.ok(haystacks['in-process logs']?.includes('account service started'), 'the logs were captured')
    for (const [where, text] of Object.entries(haystacks)) {
      for (const password of passwords) {
        assert.equal(text.includes(password), false, `a password appears in clear in ${where}`)
        const unicodePwd = Buffer.from(`"${password}"`, 'utf16le').toString('base64')
        assert.equal(text.includes(unicodePwd), false, `a unicodePwd value appears in ${where}`)
      }
      for (const token of Object.values(tokens)) {
        assert.equal(text.includes(token.secret), false, `a console token appears in ${where}`)
      }
    }
  })
})
