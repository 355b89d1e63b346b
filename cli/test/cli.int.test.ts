import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type Bus, callRpc } from '@krbfleet/bus'
import { buildApp, type ConsoleApp, hashToken } from '@krbfleet/console'
import { silentLogger } from '@krbfleet/logging'
import { freePort } from '@krbfleet/testing'
import { startNatsWorld, type NatsWorld } from '@krbfleet/testing/world'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'

const bin = resolve(import.meta.dirname, '../bin/krbfleet')
const tokens = { admin: 'cli-admin-token', viewer: 'cli-viewer-token' }

interface Run {
  code: number
  stdout: string
  stderr: string
}

describe('the krbfleet bin against a console on a free port', () => {
  let world: NatsWorld
  let bus: Bus
  let topology: TopologyInstance
  let app: ConsoleApp
  let url: string
  let dir: string

  function krbfleet(
    args: string[],
    options: { token?: string; env?: Record<string, string>; stdin?: string } = {},
  ) {
    return new Promise<Run>((done) => {
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', KRBFLEET_URL: url, ...options.env }
      const token = options.token ?? tokens.admin
      if (token) env.KRBFLEET_TOKEN = token
      const child = execFile(bin, args, { env }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        done({ code, stdout, stderr })
      })
      child.stdin?.end(options.stdin ?? '')
    })
  }
  const draft = () => topology.store.readDraft()

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-cli-'))
    world = await startNatsWorld({ name: 'cli-test' })
    bus = world.bus
    topology = await startTopology({ bus, logger: silentLogger() })
    app = await buildApp({
      logger: silentLogger(),
      tokens: [
        { name: 'admin', role: 'admin', sha256: hashToken(tokens.admin) },
        { name: 'viewer', role: 'viewer', sha256: hashToken(tokens.viewer) },
      ],
      rpc: (service, operation, body, options) => callRpc(bus, service, operation, body, options),
      publish: (e) => bus.publish(e),
    })
    const port = await freePort()
    await app.listen({ host: '127.0.0.1', port })
    url = `http://127.0.0.1:${port}`
  })
  after(async () => {
    await app?.close()
    await topology?.stop()
    await world?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  test('usage errors exit 2 and print usage', async () => {
    for (const args of [
      [],
      ['nope'],
      ['site'],
      ['site', 'fly'],
      ['site', 'add'],
      ['site', 'add', 'a', 'b'],
      ['site', 'list', '--bogus'],
      ['pool', 'add', 'p.corp.example.com'],
    ]) {
      const r = await krbfleet(args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, /usage: krbfleet/)
    }
    const noUrl = await krbfleet(['site', 'list'], { env: { KRBFLEET_URL: '' } })
    assert.equal(noUrl.code, 2)
    assert.match(noUrl.stderr, /KRBFLEET_URL/)
    const help = await krbfleet(['--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /assignment/)
  })

  test('changes with human output and --json; refusals exit 1 with the field', async () => {
    const add = await krbfleet(['site', 'add', 'Redmond'])
    assert.equal(add.code, 0, add.stderr)
    assert.match(add.stdout, /applied:\n {2}SiteAdded site=Redmond/)
    const pool = await krbfleet([
      'pool',
      'add',
      'POOL01.corp.example.com',
      '--site',
      'site:Redmond',
      '--load-balancer',
      'lb.corp.example.com',
      '--json',
    ])
    assert.equal(pool.code, 0, pool.stderr)
    const poolResult = JSON.parse(pool.stdout)
    assert.equal(poolResult.changes[0].data.pool.fqdn, 'pool01.corp.example.com')
    const server = await krbfleet([
      'server',
      'add',
      'web1.corp.example.com',
      '--pool',
      'pool01.corp.example.com',
      '--backend',
      'keytab',
    ])
    assert.equal(server.code, 0, server.stderr)
    const assignment = await krbfleet(['assignment', 'new', 'Redmond', 'CORP\\KERBAUTH'])
    assert.equal(assignment.code, 0, assignment.stderr)

    const again = await krbfleet(['site', 'add', 'redmond'])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already_exists: name: site 'Redmond' already exists \(field name\)/)
    const againJson = await krbfleet(['site', 'add', 'redmond', '--json'])
    assert.equal(againJson.code, 1)
    assert.equal(JSON.parse(againJson.stdout).error.code, 'already_exists')
    const long = await krbfleet(['assignment', 'set', 'Redmond', 'CORP\\ABCDEFGHIJKLMNOPQ'])
    assert.equal(long.code, 1)
    assert.match(long.stderr, /at most 15/)
    const viewer = await krbfleet(['site', 'add', 'Oslo'], { token: tokens.viewer })
    assert.equal(viewer.code, 1)
    assert.match(viewer.stderr, /forbidden/)
    const anonymous = await krbfleet(['site', 'list'], { token: '' })
    assert.equal(anonymous.code, 1)
    assert.match(anonymous.stderr, /unauthorized/)
  })

  test('lists: human tables and --json (server list is Get-CsService -WebServer)', async () => {
    const servers = await krbfleet(['server', 'list'], { token: tokens.viewer })
    assert.equal(servers.code, 0, servers.stderr)
    assert.match(
      servers.stdout,
      /^SERVER\s+POOL\s+SITE\s+BACKEND\s+ENROLLED\nweb1\.corp\.example\.com\s+pool01\.corp\.example\.com\s+Redmond\s+keytab\s+false$/m,
    )
    const json = await krbfleet(['server', 'list', '--json', '--site', 'Redmond'], { token: tokens.viewer })
    assert.deepEqual(JSON.parse(json.stdout).servers[0].fqdn, 'web1.corp.example.com')
    const sites = await krbfleet(['site', 'list'])
    assert.match(sites.stdout, /Redmond\s+1\s+1\s+CORP\\KERBAUTH/)
    const pools = await krbfleet(['pool', 'list', '--json'])
    assert.deepEqual(JSON.parse(pools.stdout).pools[0].loadBalancerNames, ['lb.corp.example.com'])
    const assignment = await krbfleet(['assignment', 'get', 'Redmond'])
    assert.match(assignment.stdout, /Redmond\s+CORP\\KERBAUTH/)
  })

  test('--dry-run on every change writes nothing', async () => {
    // A site without an assignment, so that `assignment new` has something to act on.
    assert.equal((await krbfleet(['site', 'add', 'Bergen'])).code, 0)
    const file = join(dir, 'dry-run-topology.json')
    await writeFile(file, JSON.stringify({ sites: [{ name: 'Trondheim' }] }))
    const before = await draft()
    const enabledBefore = await topology.store.readEnabled()
    for (const args of [
      ['assignment', 'new', 'Bergen', 'CORP\\OTHER'],
      ['topology', 'apply', '-f', file],
      ['site', 'add', 'Oslo'],
      ['site', 'add', 'Oslo', '--ntlm-only'],
      ['site', 'set', 'Bergen', '--ntlm-only'],
      ['site', 'remove', 'Redmond', '--force'],
      ['pool', 'add', 'pool02.corp.example.com', '--site', 'Redmond'],
      ['pool', 'set', 'pool01.corp.example.com', '--alias', 'www.corp.example.com'],
      ['pool', 'remove', 'pool01.corp.example.com', '--force'],
      ['server', 'add', 'web2.corp.example.com', '--pool', 'pool01.corp.example.com'],
      ['server', 'remove', 'web1.corp.example.com'],
      ['assignment', 'set', 'Redmond', 'CORP\\OTHER'],
      ['assignment', 'remove', 'Redmond'],
      ['topology', 'enable'],
    ]) {
      const r = await krbfleet([...args, '--dry-run'])
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stdout, /dry run/)
    }
    assert.deepEqual(await draft(), before)
    assert.deepEqual(await topology.store.readEnabled(), enabledBefore, 'no revision was enabled')
    assert.equal((await krbfleet(['site', 'remove', 'Bergen'])).code, 0)
  })

  test('site set --[no-]ntlm-only: the mark shows in site list and refuses an assignment', async () => {
    assert.equal((await krbfleet(['site', 'add', 'Bergen', '--ntlm-only'])).code, 0)
    const listed = await krbfleet(['site', 'list'])
    assert.match(listed.stdout, /^Bergen\s+0\s+0\s+\(NTLM only\)$/m)
    const assign = await krbfleet(['assignment', 'new', 'Bergen', 'CORP\\OTHER'])
    assert.equal(assign.code, 1)
    assert.match(assign.stderr, /conflict: site: site 'Bergen' is marked NTLM only/)
    const usage = await krbfleet(['site', 'set', 'Bergen'])
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /--ntlm-only or --no-ntlm-only/)
    const unmark = await krbfleet(['site', 'set', 'site:bergen', '--no-ntlm-only'])
    assert.equal(unmark.code, 0, unmark.stderr)
    assert.match(unmark.stdout, /SiteChanged site=Bergen ntlmOnly=false/)
    assert.match((await krbfleet(['site', 'list'])).stdout, /^Bergen\s+0\s+0$/m)
    assert.equal((await krbfleet(['site', 'remove', 'Bergen'])).code, 0)
  })

  test('topology plan / apply -f FILE (YAML) / enable / show', async () => {
    const file = join(dir, 'topology.yaml')
    await writeFile(
      file,
      [
        'sites:',
        '  - name: Redmond',
        '  - name: Dublin',
        'pools:',
        '  - fqdn: pool01.corp.example.com',
        '    site: Redmond',
        '    loadBalancerNames: [lb.corp.example.com]',
        '  - fqdn: pool02.corp.example.com',
        '    site: Dublin',
        'servers:',
        '  - { fqdn: web1.corp.example.com, pool: pool01.corp.example.com, backend: keytab }',
        '  - { fqdn: web2.corp.example.com, pool: pool02.corp.example.com, backend: iis }',
        'assignments:',
        '  - { site: Redmond, account: CORP\\KERBAUTH }',
        '  - { site: Dublin, account: CORP\\KERBAUTH }',
      ].join('\n'),
    )
    const plan = await krbfleet(['topology', 'plan', '-f', file], { token: tokens.viewer })
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(plan.stdout, /sitesAdded: Dublin/)
    assert.match(plan.stdout, /serversAdded: web2\.corp\.example\.com/)
    const dry = await krbfleet(['topology', 'apply', '-f', file, '--dry-run'])
    assert.equal(dry.code, 0)
    assert.equal((await draft()).topology.sites.length, 1)
    const apply = await krbfleet(['topology', 'apply', '-f', file])
    assert.equal(apply.code, 0, apply.stderr)
    const replan = await krbfleet(['topology', 'plan', '-f', file])
    assert.match(replan.stdout, /no changes/)
    const enable = await krbfleet(['topology', 'enable', '--json'])
    assert.equal(JSON.parse(enable.stdout).enabledRevision, 1)
    const show = await krbfleet(['topology', 'show', '--source', 'enabled', '--json'])
    const shown = JSON.parse(show.stdout)
    assert.equal(shown.revision, 1)
    assert.equal(shown.topology.servers.length, 2)
    // the show output applies back unchanged
    const roundTrip = join(dir, 'shown.json')
    await writeFile(roundTrip, JSON.stringify(shown.topology))
    const back = await krbfleet(['topology', 'plan', '-f', roundTrip])
    assert.match(back.stdout, /no changes/)
    const human = await krbfleet(['topology', 'show'])
    assert.match(human.stdout, /source\s+draft/)

    const broken = join(dir, 'broken.yaml')
    await writeFile(broken, 'sites: [ {name: a')
    assert.equal((await krbfleet(['topology', 'apply', '-f', broken])).code, 2)
    assert.equal((await krbfleet(['topology', 'apply', '-f', join(dir, 'missing.yaml')])).code, 2)
    const invalid = join(dir, 'invalid.yaml')
    await writeFile(invalid, 'sites: [{name: A}, {name: a}]')
    const refused = await krbfleet(['topology', 'apply', '-f', invalid])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /field sites\.1\.name/)
  })

  test('a console that does not answer: exit 1 with a clear message', async () => {
    const port = await freePort()
    const r = await krbfleet(['site', 'list'], { env: { KRBFLEET_URL: `http://127.0.0.1:${port}` } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /cannot reach the console/)
  })

  test('token new and token hash make records the console accepts', async () => {
    const made = await krbfleet(['token', 'new', 'alice', '--role', 'operator', '--json'])
    assert.equal(made.code, 0, made.stderr)
    const { token, record } = JSON.parse(made.stdout)
    assert.equal(record.sha256, hashToken(token))
    assert.equal(record.role, 'operator')
    const hashed = await krbfleet(['token', 'hash'], { stdin: `${token}\n` })
    assert.equal(hashed.stdout.trim(), hashToken(token))
    assert.equal((await krbfleet(['token', 'new', 'bob', '--role', 'root'])).code, 2)
  })
})
