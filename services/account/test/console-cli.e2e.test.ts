import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Bus, callRpc } from '@krbfleet/bus'
import { buckets, ChangeRecorded } from '@krbfleet/contracts'
import { buildApp, type ConsoleApp, hashToken } from '@krbfleet/console'
import { silentLogger } from '@krbfleet/logging'
import type { NatsServer, TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import { commandModules, runCli } from 'krbfleet-cli'
import type { RunningAccountService } from '../src/start.ts'
import {
  adminDirectory,
  eventsStream,
  LogCapture,
  newKek,
  readComputer,
  startService,
  streamText,
} from './helpers.ts'

/**
 * The operator's path: `krbfleet account ...` -> console /v1/accounts (tokens and roles) -> NATS
 * request/reply -> account service -> AD. Everything real; the console listens on a free port.
 */
describe('krbfleet account verbs through the console', { timeout: 300_000 }, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let service: RunningAccountService
  let bus: Bus
  let app: ConsoleApp
  let url: string
  const tokens = {
    viewer: 'viewer-token-0123456789',
    operator: 'operator-token-0123456789',
    admin: 'admin-token-0123456789',
  }

  /** Runs the CLI in-process with a token of `role`; returns exit code and output. */
  const cli = async (role: keyof typeof tokens, ...argv: string[]) => {
    let stdout = ''
    let stderr = ''
    const code = await runCli(
      argv,
      {
        env: { KRBFLEET_URL: url, KRBFLEET_TOKEN: tokens[role] },
        stdout: (t) => {
          stdout += t
        },
        stderr: (t) => {
          stderr += t
        },
        readStdin: async () => '',
        readFile: async () => '',
      },
      commandModules,
    )
    return { code, stdout, stderr }
  }

  before(async () => {
    world = await startWorld({ name: 'console-cli-test' })
    ;({ dc, nats, bus } = world)
    service = await startService(dc, nats, newKek().key, new LogCapture().logger())
    app = await buildApp({
      logger: silentLogger(),
      tokens: Object.entries(tokens).map(([role, token]) => ({
        name: role,
        role: role as 'viewer' | 'operator' | 'admin',
        sha256: hashToken(token),
      })),
      rpc: (s, op, body, options) => callRpc(bus, s, op, body, options),
      publish: (e) => bus.publish(e),
    })
    url = await app.listen({ host: '127.0.0.1', port: 0 })
  })

  after(async () => {
    await app?.close()
    await service?.stop()
    await world?.stop()
  })

  it('admin creates (dry run first), viewer lists and shows, all with --json', async () => {
    const plan = await cli('admin', 'account', 'new', 'CORP\\CLIPOOL', '--dry-run', '--json')
    assert.equal(plan.code, 0, plan.stderr)
    assert.equal(JSON.parse(plan.stdout).dryRun, true)
    const admin = await adminDirectory(dc)
    try {
      assert.equal(await readComputer(admin, dc.baseDn, 'CLIPOOL$'), undefined)
      const made = await cli(
        'admin',
        'account',
        'new',
        'CORP\\CLIPOOL',
        '--encryption-types',
        'aes256',
        '--json',
      )
      assert.equal(made.code, 0, made.stderr)
      const change = JSON.parse(made.stdout)
      assert.equal(change.action, 'create')
      const ad = await readComputer(admin, dc.baseDn, 'CLIPOOL$')
      assert.equal(ad?.encryptionTypes, 16)
      assert.equal(ad?.kvno, change.kvno)
    } finally {
      await admin.close()
    }
    const human = await cli('admin', 'account', 'new', 'CORP\\CLIPOOL2')
    assert.equal(human.code, 0, human.stderr)
    assert.match(
      human.stdout,
      /^created CORP\\CLIPOOL2 \(CN=CLIPOOL2,CN=Computers,DC=corp,DC=example,DC=com\)/,
    )
    assert.match(human.stdout, /unicodePwd: \[secret\]/)

    const list = await cli('viewer', 'account', 'list', '--json')
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(
      JSON.parse(list.stdout).map((a: { account: string }) => a.account),
      ['CORP\\CLIPOOL', 'CORP\\CLIPOOL2'],
    )
    const table = await cli('viewer', 'account', 'list')
    assert.match(table.stdout, /^ACCOUNT\s+KVNO\s+ENCTYPES\s+MANAGED\s+DN/)
    const show = await cli('viewer', 'account', 'show', 'CORP\\CLIPOOL', '--json')
    assert.equal(show.code, 0, show.stderr)
    assert.equal(JSON.parse(show.stdout).encryptionTypes, 16)
  })

  it('enforces roles: viewer cannot create, operator cannot remove, operator resets and tests', async () => {
    const denied = await cli('viewer', 'account', 'new', 'CORP\\NOPE')
    assert.equal(denied.code, 1)
    assert.match(denied.stderr, /forbidden: .*needs the admin role/)
    const reset = await cli('operator', 'account', 'reset-password', 'CORP\\CLIPOOL', '--json')
    assert.equal(reset.code, 0, reset.stderr)
    const kvno = JSON.parse(reset.stdout).kvno
    const report = await cli('operator', 'test', 'account', 'CORP\\CLIPOOL', '--json')
    // spn-sync is not running here: the SPN check is unknown, nothing fails.
    assert.equal(report.code, 0, report.stderr)
    const checks = JSON.parse(report.stdout).checks as Array<{
      check: string
      status: string
      detail: string
    }>
    assert.equal(checks.find((c) => c.check === 'secret-kvno')?.detail, `kvno ${kvno}`)
    assert.equal(checks.find((c) => c.check === 'encryption-types')?.status, 'pass')
    const human = await cli('operator', 'account', 'test', 'CORP\\CLIPOOL')
    assert.match(human.stdout, /^CORP\\CLIPOOL: UNKNOWN\n {2}\[pass {3}\] exists/)
    const refused = await cli('operator', 'account', 'remove', 'CORP\\CLIPOOL')
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /needs the admin role/)
    const viewerTest = await cli('viewer', 'test', 'account', 'CORP\\CLIPOOL')
    assert.equal(viewerTest.code, 1)
  })

  it('bad input gets a 4xx with the field named; a failing test exits 1', async () => {
    const bad = await cli('admin', 'account', 'new', 'CORP\\ABCDEFGHIJKLMNOP', '--json')
    assert.equal(bad.code, 1)
    const error = JSON.parse(bad.stdout).error
    assert.equal(error.status, 422)
    assert.equal(error.field, 'account')
    assert.match(error.message, /at most 15/)
    const noDn = await cli(
      'admin',
      'account',
      'new',
      'CORP\\X1',
      '--container-dn',
      'OU=Missing,DC=corp,DC=example,DC=com',
    )
    assert.equal(noDn.code, 1)
    assert.match(noDn.stderr, /not_found: containerDn: .* does not exist/)
    const missing = await cli('operator', 'test', 'account', 'CORP\\NOSUCH')
    assert.equal(missing.code, 1)
    assert.match(missing.stdout, /CORP\\NOSUCH: FAIL/)
    const usage = await cli('admin', 'account', 'new')
    assert.equal(usage.code, 2)
  })

  it('account remove of an account the enabled topology assigns is refused naming the sites, done with --force', async () => {
    const admin = await adminDirectory(dc)
    const created = await cli('admin', 'account', 'new', 'CORP\\CLIASSIGNED')
    assert.equal(created.code, 0, created.stderr)
    const topology = await bus.kv(buckets.topology)
    await topology.put(
      'revision.7',
      JSON.stringify({
        revision: 7,
        enabledAt: new Date().toISOString(),
        enabledBy: 'user:test',
        topology: {
          sites: [{ name: 'emea' }],
          pools: [],
          servers: [],
          assignments: [{ site: 'emea', account: 'CORP\\CLIASSIGNED' }],
          agents: [],
        },
      }),
    )
    await topology.put('enabled', '7')
    const refused = await cli('admin', 'account', 'remove', 'CORP\\CLIASSIGNED')
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /assigned to site emea in the enabled topology/)
    assert.ok(await readComputer(admin, dc.baseDn, 'CLIASSIGNED$'), 'still in AD')
    const forced = await cli('admin', 'account', 'remove', 'CORP\\CLIASSIGNED', '--force', '--json')
    assert.equal(forced.code, 0, forced.stderr)
    assert.equal(JSON.parse(forced.stdout).action, 'remove')
    assert.equal(await readComputer(admin, dc.baseDn, 'CLIASSIGNED$'), undefined)
    await topology.delete('enabled')
    await admin.close()
  })

  it('admin removes; every change is audited with its actor', async () => {
    const removed = await cli('admin', 'account', 'remove', 'CORP\\CLIPOOL2', '--json')
    assert.equal(removed.code, 0, removed.stderr)
    assert.equal(JSON.parse(removed.stdout).action, 'remove')
    const shown = await cli('viewer', 'account', 'show', 'CORP\\CLIPOOL2')
    assert.equal(shown.code, 1)
    assert.match(shown.stderr, /not_found/)
    const audit = (await streamText(bus, eventsStream))
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.type === ChangeRecorded.type)
      .map((e) => `${e.actor} ${e.data.action} ${e.data.target} ${e.data.outcome}`)
    assert.ok(audit.includes('token:admin account.create account:CORP\\CLIPOOL dry-run'), audit.join('\n'))
    assert.ok(audit.includes('token:admin account.create account:CORP\\CLIPOOL applied'))
    assert.ok(audit.includes('token:operator password.reset account:CORP\\CLIPOOL applied'))
    assert.ok(audit.includes('token:admin account.remove account:CORP\\CLIPOOL2 applied'))
    assert.ok(
      audit.some((a) => a.startsWith('token:admin account.create account:CORP\\ABCDEFGHIJKLMNOP refused')),
    )
  })
})
