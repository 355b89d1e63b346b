/**
 * Set-CsKerberosAccountPassword without a 401 window (issue 12): the two-phase rotation saga over
 * the agents' delivery, end to end. Two sites (paris, dublin), one pool each, two web servers per
 * pool: each server a real agent process (keytab backend) and its own real Apache with
 * mod_auth_gssapi. The account service runs as its own process, so that it can be SIGKILLed at each
 * step of the saga. A probe loop sends Negotiate requests to every server with a client holding
 * tickets from BEFORE the rotation and a client taking new tickets all along; not one 401.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  CredentialApplied,
  CredentialStaged,
  type EventEnvelope,
  PasswordRotated,
  PasswordRotationFailed,
  PasswordRotationStarted,
  type RotationView,
} from '@krbfleet/contracts'
import { rotationFailpoints } from '@krbfleet/account'
import { adminClient, createUser, strongPassword } from '@krbfleet/testing'
import { cliBin, startSystem, type System, tokens } from './support/system.ts'
import { clientEnv, copyCache, login, startWebServer, type WebServer } from './support/web-servers.ts'

const ACCOUNT = 'CORP\\KERBROT'
const SAM = 'KERBROT$'
const POOLS = { paris: 'web.paris.corp.example.com', dublin: 'web.dublin.corp.example.com' } as const
const SERVERS = [
  { server: 'fe01.paris.corp.example.com', site: 'paris' },
  { server: 'fe02.paris.corp.example.com', site: 'paris' },
  { server: 'fe01.dublin.corp.example.com', site: 'dublin' },
  { server: 'fe02.dublin.corp.example.com', site: 'dublin' },
] as const

/** The saga's timing for the test: agents offline after 3 s without a heartbeat (they beat every 500 ms). */
const accountEnv = {
  KRBFLEET_ACCOUNT_ROTATION_STAGE_TIMEOUT_MS: '8000',
  KRBFLEET_ACCOUNT_ROTATION_APPLY_TIMEOUT_MS: '8000',
  KRBFLEET_ACCOUNT_AGENT_ONLINE_WITHIN_MS: '3000',
  KRBFLEET_ACCOUNT_ROTATION_STALE_AFTER_MS: '500',
}

interface Probe {
  rounds: number
  failures: string[]
  stop(): Promise<void>
}

describe('password rotation: a two-phase saga with no 401 window', { timeout: 900_000 }, () => {
  let system: System
  const web: WebServer[] = []
  const userPassword = strongPassword()
  let probeCount = 0

  const account = () => {
    const running = system.accountProcess
    assert.ok(running, 'the account service runs as a process')
    return running
  }
  const ofType = async (type: string, correlationId?: string): Promise<EventEnvelope[]> =>
    (await system.events()).filter(
      (e) => e.type === type && (correlationId === undefined || e.correlationId === correlationId),
    )
  const latest = async () =>
    (await system.api<RotationView>('GET', `/v1/accounts/CORP.KERBROT/rotation`, { role: 'viewer' })).body
  const allOk = async (cache: string, servers: readonly WebServer[] = web) =>
    (await Promise.all(servers.map((w) => w.negotiate(cache)))).every((status) => status === 200)
  /**
   * Sends Negotiate requests to every server, round after round, with the `before` cache (tickets
   * obtained before the rotation) and a fresh copy of the TGT-only cache `tgt` (new service tickets,
   * as a browser arriving now gets them). Every answer that is not 200 is a failure.
   */
  const probe = (): Probe => {
    const state = { rounds: 0, failures: [] as string[], stopped: false }
    const loop = (async () => {
      while (!state.stopped) {
        const fresh = `fresh-${++probeCount}`
        await copyCache(system, 'tgt', fresh)
        const answers = await Promise.all(
          web.flatMap((w) => [
            w.negotiate('before').then((s) => [w.server, 'before', s] as const),
            w.negotiate(fresh).then((s) => [w.server, 'fresh', s] as const),
          ]),
        )
        for (const [server, client, status] of answers) {
          if (status !== 200) state.failures.push(`${server} ${client} ${status} (round ${state.rounds})`)
        }
        state.rounds++
      }
    })()
    return {
      get rounds() {
        return state.rounds
      },
      get failures() {
        return state.failures
      },
      async stop() {
        state.stopped = true
        await loop
      },
    }
  }
  /** Every server holds AD's kvno; the probe's clients get 200 everywhere. */
  const converged = async (what: string) => {
    const ad = await system.kvnoOf(SAM)
    await system.eventually(
      async () => (await Promise.all(web.map((w) => w.kvnos()))).every((k) => k.includes(ad)),
      `${what}: every keytab holds AD's kvno ${ad}`,
    )
    await copyCache(system, 'tgt', `converged-${++probeCount}`)
    assert.ok(await allOk(`converged-${probeCount}`), `${what}: 200 from every server with a new ticket`)
    // The old ticket's kvno was replaced before fe03 joined: only the servers of the start hold it
    // (a server added later gets the current key, not the retiring ones).
    assert.ok(
      await allOk('before', web.slice(0, SERVERS.length)),
      `${what}: 200 from every server of the start with the old ticket`,
    )
    const { kvno } = await system.accountSecret(ACCOUNT)
    assert.equal(kvno, ad, `${what}: the sealed secret is AD's`)
  }

  before(async () => {
    system = await startSystem({ accountProcess: { env: accountEnv } })
    await createUser(system.dc, 'alice', userPassword)
    const { cli } = system
    const ok = async (args: string[]) => {
      const result = await cli(args)
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`)
    }
    await ok(['account', 'new', ACCOUNT])
    for (const [site, pool] of Object.entries(POOLS)) {
      await ok(['site', 'add', site])
      await ok(['pool', 'add', pool, '--site', site])
      await ok(['assignment', 'new', site, ACCOUNT])
    }
    for (const { server, site } of SERVERS) {
      await ok(['server', 'add', server, '--pool', POOLS[site], '--backend', 'keytab'])
    }
    await ok(['topology', 'enable'])
    for (const { server, site } of SERVERS) web.push(await startWebServer(system, server, POOLS[site]))
    for (const w of web) await w.start({ enrol: true })
    const kvno = await system.kvnoOf(SAM)
    await system.eventually(
      async () => (await Promise.all(web.map((w) => w.kvnos()))).every((k) => k.includes(kvno)),
      'every agent installed the first key',
    )
    await login(system, 'before', 'alice', userPassword)
    await login(system, 'tgt', 'alice', userPassword)
    await system.eventually(() => allOk('before'), 'every server answers 200 before the rotation')
  })
  after(async () => {
    for (const w of web) await w.close().catch(() => {})
    await system?.stop()
  })

  it('--dry-run lists the targets and changes nothing', async () => {
    const kvno = await system.kvnoOf(SAM)
    const result = await system.cli(['password', 'set', ACCOUNT, '--dry-run'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(
      result.stdout,
      new RegExp(
        `would rotate the password of CORP\\\\KERBROT \\(kvno ${kvno} -> ${kvno + 1}\\) on 4 server`,
      ),
    )
    const agents = (await system.cli(['agent', 'list', '--json'])).stdout
    for (const { server, site } of SERVERS)
      assert.match(
        result.stdout,
        new RegExp(`${server.replaceAll('.', '\\.')}\\s+${site}\\s+yes`),
        `${result.stdout}\nagents: ${agents}\nnow ${new Date().toISOString()}`,
      )
    const json = JSON.parse(
      (await system.cli(['password', 'set', ACCOUNT, '--dry-run', '--json'])).stdout,
    ) as RotationView
    assert.equal(json.dryRun, true)
    assert.deepEqual(
      json.targets.map((t) => [t.server, t.site, t.online]),
      [...SERVERS]
        .sort((a, b) => a.site.localeCompare(b.site) || a.server.localeCompare(b.server))
        .map((s) => [s.server, s.site, true]),
    )
    assert.equal(await system.kvnoOf(SAM), kvno, 'AD untouched')
  })

  it('rotates across 2 sites with no 401 for old or new tickets: progress, result table, events with one correlation id', async () => {
    const previous = await system.kvnoOf(SAM)
    const running = probe()
    // Let the probe run a while before the rotation.
    await system.eventually(() => running.rounds >= 3, 'the probe runs')
    const result = await system.cli(['password', 'set', ACCOUNT])
    const seen = running.rounds
    await system.eventually(() => running.rounds >= seen + 3, 'the probe runs on after the rotation')
    await running.stop()
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`)
    assert.deepEqual(running.failures, [], 'not one answer other than 200 during the whole rotation')
    assert.ok(running.rounds >= 6, `the probe ran ${running.rounds} rounds`)

    // The progress went to stderr, one line per change (not a terminal), ending applied 4/4.
    assert.match(result.stderr, /staging\s+\[[#.]+\] staged \d\/4/)
    assert.match(result.stderr, /done\s+\[#{20}\] staged 4\/4 {2}applied 4\/4 {2}\(dublin 2\/2, paris 2\/2\)/)
    assert.match(result.stdout, /SERVER\s+SITE\s+ONLINE\s+STAGED\s+APPLIED/)
    assert.match(result.stdout, new RegExp(`4/4 server\\(s\\) hold kvno ${previous + 1}`))

    assert.equal(await system.kvnoOf(SAM), previous + 1)
    for (const w of web)
      assert.deepEqual(await w.kvnos(), [previous, previous + 1], `${w.server} keeps the old key beside`)
    const rotation = await latest()
    assert.equal(rotation.state, 'done')
    assert.equal(rotation.kvno, previous + 1)
    const id = rotation.rotationId
    assert.equal((await ofType(PasswordRotationStarted.type, id)).length, 1)
    assert.deepEqual(
      (await ofType(CredentialStaged.type, id)).map((e) => (e.data as { server: string }).server).sort(),
      SERVERS.map((s) => s.server).sort(),
    )
    const rotated = await ofType(PasswordRotated.type, id)
    assert.deepEqual(
      rotated.map((e) => e.data),
      [{ rotationId: id, account: ACCOUNT, kvno: previous + 1 }],
    )
    const applied = await ofType(CredentialApplied.type, id)
    assert.deepEqual(
      applied.map((e) => (e.data as { server: string; kvno: number }).kvno),
      [previous + 1, previous + 1, previous + 1, previous + 1],
    )
    // Staged before AD had it, applied after.
    const stagedAt = Math.max(
      ...(await ofType(CredentialStaged.type, id)).map((e) => Date.parse(e.occurredAt)),
    )
    assert.ok(stagedAt <= Date.parse(rotated[0]!.occurredAt), 'every server staged before AD was written')
    // `account show` says when the schedule rotates it next.
    const shown = (await system.cli(['account', 'show', ACCOUNT])).stdout
    assert.match(shown, /next rotation\s+\d{4}-\d\d-\d\dT/)
  })

  it('krbfleet events: the rotation filtered by type and account, one JSON object a line, and --follow live', async () => {
    const rotation = await latest()
    const listed = await system.cli(
      ['events', '--type', 'PasswordRotated', '--account', ACCOUNT, '--json'],
      'viewer',
    )
    assert.equal(listed.code, 0, listed.stderr)
    const lines = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EventEnvelope)
    assert.deepEqual(
      lines.map((e) => [e.type, e.correlationId]),
      [[PasswordRotated.type, rotation.rotationId]],
    )
    const human = await system.cli(['events', '--since', '1h', '--type', 'CredentialStaged'], 'viewer')
    assert.match(
      human.stdout,
      /agent\.CredentialStaged {2}server=fe01\.dublin\.corp\.example\.com account=CORP\\KERBROT kvno=(\d+) held=CORP\\KERBROT:\1,\d+ {2}by agent:fe01\.dublin/,
    )
    const bad = await system.cli(['events', '--since', 'yesterday'], 'viewer')
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /since: must be a duration/)

    // --follow: a rotation started while it runs shows up, as it happens.
    const follower = spawn(cliBin, ['events', '--follow', '--type', 'PasswordRotationStarted', '--json'], {
      env: { ...process.env, KRBFLEET_URL: system.consoleUrl, KRBFLEET_TOKEN: tokens.viewer.secret },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let followed = ''
    follower.stdout.on('data', (chunk: Buffer) => {
      followed += chunk.toString()
    })
    try {
      // What it printed at start (the last hour) comes first; the new rotation after it.
      await system.eventually(
        () => followed.includes('PasswordRotationStarted'),
        'the follower printed the history',
      )
      const before = followed.trim().split('\n').length
      const started = JSON.parse(
        (await system.cli(['password', 'set', ACCOUNT, '--no-wait', '--json'])).stdout,
      ) as RotationView
      await system.eventually(
        () => followed.includes(started.rotationId),
        `the follower printed ${started.rotationId}: ${followed}`,
      )
      assert.equal(followed.trim().split('\n').length, before + 1)
    } finally {
      follower.kill('SIGTERM')
    }
    await system.eventually(async () => (await latest()).state === 'done', 'that rotation finishes')
  })

  it('a second rotation of the account while one runs is refused, naming the running one', async () => {
    // One agent killed just now still looks online: the first rotation waits for it (stage timeout).
    const slow = web[2]!
    await slow.stop('SIGKILL')
    const first = await system.cli(['password', 'set', ACCOUNT, '--no-wait', '--json'])
    assert.equal(first.code, 0, first.stderr)
    const started = JSON.parse(first.stdout) as RotationView
    const second = await system.cli(['password', 'set', ACCOUNT])
    assert.equal(second.code, 1)
    assert.match(second.stderr, new RegExp(`rotation ${started.rotationId} of CORP\\\\KERBROT is running`))
    const shown = await system.cli(['password', 'show', started.rotationId, '--json'])
    assert.equal((JSON.parse(shown.stdout) as RotationView).rotationId, started.rotationId)
    await slow.start()
    await system.eventually(async () => (await latest()).state === 'done', 'the first rotation finishes')
    await converged('after two rotations')
  })

  it('an offline agent does not hold the others back: named offline, exit 1; it catches up when it returns', async () => {
    const offline = web[3]!
    await offline.stop('SIGKILL')
    // Offline once its last heartbeat is older than the online window (3 s).
    await new Promise((resolve) => setTimeout(resolve, 3500))
    const previous = await system.kvnoOf(SAM)
    const result = await system.cli(['password', 'set', ACCOUNT])
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`)
    assert.match(
      result.stdout,
      new RegExp(
        `${offline.server.replaceAll('.', '\\.')}\\s+dublin\\s+no\\s+no\\s+no\\s+offline: catches up when it returns`,
      ),
    )
    assert.match(result.stdout, /3\/4 server\(s\) hold kvno/)
    assert.equal(await system.kvnoOf(SAM), previous + 1, 'AD was rotated without waiting for it')
    for (const w of web.slice(0, 3)) assert.ok((await w.kvnos()).includes(previous + 1))
    assert.deepEqual((await latest()).pendingSites, ['dublin'])
    await offline.start()
    await converged('the offline server returned')
    // The done rotation no longer names the site that caught up (its record stays as it ended).
    await system.eventually(
      async () => (await latest()).pendingSites === undefined,
      'the rotation shows dublin caught up',
    )
    const view = await latest()
    assert.equal(view.state, 'done')
    assert.equal(view.counts?.applied, 4)
    const shown = await system.cli(['password', 'show', view.rotationId])
    assert.equal(shown.code, 0, `${shown.stdout}\n${shown.stderr}`)
    assert.match(shown.stdout, /4\/4 server\(s\) hold kvno/)
  })

  it('a failed AD write aborts the saga: AD keeps its password and the agents drop the staged key', async () => {
    // One agent killed just now still looks online (its heartbeat is recent): the saga waits for it
    // until the stage timeout, and meanwhile the account's AD object is renamed, so the password
    // write meets "no such object" from the DC: a definite refusal.
    const slow = web[0]!
    await slow.stop('SIGKILL')
    const previous = await system.kvnoOf(SAM)
    const ldap = await adminClient(system.dc)
    const dn = `CN=KERBROT,CN=Computers,${system.dc.baseDn}`
    try {
      const started = JSON.parse(
        (await system.cli(['password', 'set', ACCOUNT, '--no-wait', '--json'])).stdout,
      ) as RotationView
      await system.eventually(
        async () =>
          (await Promise.all(web.slice(1).map((w) => w.kvnos()))).every((k) => k.includes(previous + 1)),
        'the online agents staged the next kvno',
      )
      await ldap.modifyDN(dn, 'CN=KERBROT-MOVED')
      await system.eventually(async () => (await latest()).state === 'aborted', 'the rotation aborts', 30_000)
      const view = await latest()
      assert.equal(view.rotationId, started.rotationId)
      assert.match(view.reason ?? '', /AD refused the password/)
      const failed = await ofType(PasswordRotationFailed.type, started.rotationId)
      assert.equal(failed.length, 1)
      assert.equal((failed[0]!.data as { step: string }).step, 'committing')
      const shown = await system.cli(['password', 'show', ACCOUNT])
      assert.equal(shown.code, 1)
      assert.match(shown.stdout, /aborted: .*AD keeps its password/)
    } finally {
      await ldap.modifyDN(`CN=KERBROT-MOVED,CN=Computers,${system.dc.baseDn}`, 'CN=KERBROT').catch(() => {})
      await ldap.unbind()
    }
    assert.equal(await system.kvnoOf(SAM), previous, 'AD kept its password')
    await system.eventually(
      async () =>
        (await Promise.all(web.slice(1).map((w) => w.kvnos()))).every((k) => !k.includes(previous + 1)),
      'the agents dropped the staged key',
    )
    assert.equal((await system.accountSecret(ACCOUNT)).kvno, previous)
    await slow.start()
    await converged('after the aborted rotation')
  })

  for (const point of rotationFailpoints) {
    it(`the account service SIGKILLed at ${point}: restarted, the saga finishes or rolls back and every kvno converges`, async () => {
      const previous = await system.kvnoOf(SAM)
      await account().stop()
      await account().start({ crashAt: point })
      const request = system.api<RotationView>('POST', '/v1/accounts/CORP.KERBROT/password', {
        role: 'operator',
      })
      await account().exited()
      await account().start()
      // Killed before it answered (rotation-started): the console's call times out.
      const started = await request
      await system.eventually(
        async () => ['done', 'aborted'].includes((await latest()).state),
        `the saga resumed after ${point} ends`,
      )
      const view = await latest()
      if (started.status === 202) assert.equal(view.rotationId, started.body.rotationId)
      assert.equal(view.state, 'done', `${point}: ${view.reason ?? ''}`)
      assert.equal(await system.kvnoOf(SAM), previous + 1, 'AD was rotated exactly once')
      await converged(`after a crash at ${point}`)
      assert.deepEqual((await ofType(PasswordRotated.type, view.rotationId)).length, 1)
    })
  }

  it('an agent SIGKILLed mid-stage converges when it restarts', async () => {
    const victim = web[1]!
    const previous = await system.kvnoOf(SAM)
    const started = await system.cli(['password', 'set', ACCOUNT, '--no-wait'])
    assert.equal(started.code, 0, started.stderr)
    await victim.stop('SIGKILL')
    await victim.start()
    await system.eventually(async () => (await latest()).state === 'done', 'the rotation finishes')
    assert.equal(await system.kvnoOf(SAM), previous + 1)
    await converged('after an agent killed mid-stage')
  })

  it('a server added after the rotation answers 200 with no manual step; copy mode; a copy across accounts is refused', async () => {
    const added = 'fe03.paris.corp.example.com'
    const { cli } = system
    assert.equal((await cli(['server', 'add', added, '--pool', POOLS.paris, '--backend', 'keytab'])).code, 0)
    assert.equal((await cli(['site', 'add', 'oslo'])).code, 0)
    assert.equal((await cli(['pool', 'add', 'web.oslo.corp.example.com', '--site', 'oslo'])).code, 0)
    assert.equal(
      (
        await cli([
          'server',
          'add',
          'fe01.oslo.corp.example.com',
          '--pool',
          'web.oslo.corp.example.com',
          '--backend',
          'keytab',
        ])
      ).code,
      0,
    )
    assert.equal((await cli(['topology', 'enable'])).code, 0)
    const server = await startWebServer(system, added, POOLS.paris)
    web.push(server)
    await server.start({ enrol: true })
    await copyCache(system, 'tgt', 'added')
    await system.eventually(
      async () => (await server.negotiate('added')) === 200,
      `200 from ${added}: ${server.output().slice(-2000)}`,
    )
    assert.deepEqual(await server.kvnos(), [await system.kvnoOf(SAM)])

    const copied = await cli(['password', 'copy', '--from', SERVERS[0].server, '--to', added, '--json'])
    assert.equal(copied.code, 0, copied.stderr)
    assert.deepEqual(JSON.parse(copied.stdout), {
      account: ACCOUNT,
      from: SERVERS[0].server,
      to: added,
      kvno: await system.kvnoOf(SAM),
      dryRun: false,
    })
    const refused = await cli([
      'password',
      'copy',
      '--from',
      SERVERS[0].server,
      '--to',
      'fe01.oslo.corp.example.com',
    ])
    assert.equal(refused.code, 1)
    assert.match(
      refused.stderr,
      /to: fe01\.oslo\.corp\.example\.com \(site oslo\) is served by no account, .* by CORP\\KERBROT: a copy needs both served by one account/,
    )
    const unknown = await cli(['password', 'copy', '--from', 'nope.corp.example.com', '--to', added])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /from: nope\.corp\.example\.com is not a server of the enabled topology/)
    const usage = await cli(['password', 'copy', '--from', added])
    assert.equal(usage.code, 2)

    // Test-CsTopology: oslo has a pool but no account, and its server no agent: both named.
    const topology = await cli(['test', 'topology', '--json'], 'viewer')
    assert.equal(topology.code, 1, topology.stdout + topology.stderr)
    const checks = (
      JSON.parse(topology.stdout) as { checks: Array<{ check: string; status: string; detail: string }> }
    ).checks
    assert.deepEqual(
      checks.map((c) => [c.check, c.status]),
      [
        ['assignments', 'fail'],
        ['spn-duplicates', 'pass'],
        ['agents', 'fail'],
        ['bus', 'pass'],
        ['rc4-readiness', 'pass'],
      ],
    )
    assert.match(checks[0]!.detail, /fall back to NTLM\): oslo$/)
    assert.match(checks[2]!.detail, /^no agent enrolled: fe01\.oslo\.corp\.example\.com$/)
    // Every durable of the services, with its lag, as the stream itself reports it.
    for (const durable of [
      'spn-sync-account-created',
      'spn-sync-account-removed',
      'spn-sync-topology-enabled',
      'topology-agent-status',
    ])
      assert.match(checks[3]!.detail, new RegExp(`${durable} lag \\d+/\\d+ unacked`), checks[3]!.detail)
    assert.match(checks[3]!.detail, /^KRBFLEET_EVENTS \d+ events; /)
  })

  it('krbfleet test assignment: healthy site 0 with an HTML report; a server behind on its key is named (InvalidKerberosConfiguration, 401) and exits 1', async () => {
    const endpoints = join(system.work, 'servers.json')
    await writeFile(
      endpoints,
      JSON.stringify({
        servers: web.map((w) => ({ fqdn: w.server, web: { address: '127.0.0.1', port: w.apache.port } })),
      }),
    )
    const test = async (cache: string) => {
      await copyCache(system, 'tgt', cache)
      return await system.cli(
        [
          'test',
          'assignment',
          '--site',
          'paris',
          '--endpoints',
          endpoints,
          '--report',
          join(system.work, `${cache}.html`),
        ],
        'operator',
        clientEnv(system, cache),
      )
    }
    const healthy = await test('assign-1')
    assert.equal(healthy.code, 0, `${healthy.stdout}\n${healthy.stderr}`)
    assert.match(healthy.stdout, /site paris \(CORP\\KERBROT\): pass/)
    for (const w of web.filter((w) => w.server.includes('.paris.')))
      assert.match(
        healthy.stdout,
        new RegExp(`${w.server.replaceAll('.', '\\.')}\\s+pass\\s+holds AD's kvno \\d+\\s+200 from`),
      )
    const page = await readFile(join(system.work, 'assign-1.html'), 'utf8')
    assert.match(page, /<h1>Site paris: <span class="outcome pass">pass<\/span><\/h1>/)
    assert.match(page, /<tr class="pass"><td>fe01\.paris\.corp\.example\.com<\/td>/)

    // A probe identity of its own: the caller holds no ticket at all, the probe's keytab does the asking.
    await createUser(system.dc, 'krbprobe', strongPassword())
    const probeKeytab = join(system.work, 'probe.keytab')
    await system.dc.sambaTool([
      'domain',
      'exportkeytab',
      probeKeytab,
      '--principal',
      'krbprobe@CORP.EXAMPLE.COM',
    ])
    const probeArgs = ['test', 'assignment', '--site', 'paris', '--endpoints', endpoints]
    const ticketless = await system.cli(probeArgs, 'operator', clientEnv(system, 'no-ticket'))
    assert.equal(ticketless.code, 1, 'without a ticket the probe gets 401s')
    assert.match(ticketless.stdout, /probed as your own ticket/)
    const probed = await system.cli(
      [...probeArgs, '--probe-keytab', probeKeytab, '--probe-principal', 'krbprobe@CORP.EXAMPLE.COM'],
      'operator',
      clientEnv(system, 'no-ticket'),
    )
    assert.equal(probed.code, 0, `${probed.stdout}\n${probed.stderr}`)
    assert.match(probed.stdout, /^probed as krbprobe@CORP\.EXAMPLE\.COM \(keytab .*probe\.keytab\)$/m)
    const wrongPrincipal = await system.cli(
      [...probeArgs, '--probe-keytab', probeKeytab, '--probe-principal', 'nobody@CORP.EXAMPLE.COM'],
      'operator',
      clientEnv(system, 'no-ticket'),
    )
    assert.equal(wrongPrincipal.code, 1)
    assert.match(
      wrongPrincipal.stderr,
      /the probe identity nobody@CORP\.EXAMPLE\.COM got no ticket from .*probe\.keytab/,
    )
    const half = await system.cli([...probeArgs, '--probe-keytab', probeKeytab], 'operator')
    assert.equal(half.code, 2)
    assert.match(half.stderr, /--probe-keytab and --probe-principal go together/)

    // fe01.paris misses a rotation: its agent is down while the others switch.
    const behind = web[0]!
    await behind.stop('SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 3500))
    assert.equal((await system.cli(['password', 'set', ACCOUNT])).code, 1)
    const ad = await system.kvnoOf(SAM)
    const sick = await test('assign-2')
    assert.equal(sick.code, 1, sick.stdout)
    assert.match(sick.stdout, /site paris \(CORP\\KERBROT\): fail/)
    assert.match(
      sick.stdout,
      new RegExp(
        `fe01\\.paris\\.corp\\.example\\.com\\s+fail\\s+InvalidKerberosConfiguration: holds [\\d,]+, AD has kvno ${ad}\\s+401 from`,
      ),
    )
    const json = JSON.parse(
      (
        await system.cli(
          ['test', 'assignment', '--site', 'paris', '--endpoints', endpoints, '--json'],
          'operator',
          clientEnv(system, 'assign-2'),
        )
      ).stdout,
    ) as { outcome: string; servers: Array<{ server: string; status: string }> }
    assert.equal(json.outcome, 'fail')
    assert.deepEqual(
      json.servers.filter((s) => s.status !== 'pass').map((s) => s.server),
      [behind.server],
    )
    assert.match(
      await readFile(join(system.work, 'assign-2.html'), 'utf8'),
      /<tr class="fail"><td>fe01\.paris\.corp\.example\.com<\/td>/,
    )
    await behind.start()
    await converged('after the server behind came back')
    // Its agent's report reaches the agents' status a moment after its keytab: ask until it has.
    let last = ''
    let attempt = 0
    await system.eventually(async () => {
      const again = await test(`assign-3-${++attempt}`)
      last = again.stdout
      return again.code === 0
    }, `test assignment healthy again: ${last}`)
    const usage = await system.cli(['test', 'assignment'], 'operator')
    assert.equal(usage.code, 2)
  })

  it('no password in the account log, the events or the rotations bucket', async () => {
    const { password } = await system.accountSecret(ACCOUNT)
    const log = await import('node:fs/promises').then((fs) => fs.readFile(account().logFile, 'utf8'))
    assert.ok(!log.includes(password), 'no password in the account service log')
    assert.ok(!JSON.stringify(await system.events()).includes(password), 'no password in events')
    assert.ok(
      !(await system.streamText('KV_krbfleet-rotations')).includes(password),
      'none in the rotations bucket',
    )
    for (const w of web) assert.ok(!w.output().includes(password), `none in ${w.server}'s agent output`)
  })
})
