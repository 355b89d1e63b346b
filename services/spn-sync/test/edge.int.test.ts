import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { callRpc } from '@krbfleet/bus'
import { buildApp, type ConsoleApp, hashToken } from '@krbfleet/console'
import {
  KrbfleetError,
  ServiceName,
  type SpnDesired,
  type SpnDuplicates,
  type SpnListing,
  type SpnPlan,
  type SpnQueryResult,
  type SpnReconcileResult,
  spnOperations as Op,
} from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { type CliIo, commandModules, runCli } from 'krbfleet-cli'
import type { SpnSync } from '../src/index.ts'
import { startWorld, type World, webPool } from './world.ts'

/**
 * The operator edge of spn-sync on real servers: its RPCs over NATS, the console's /v1/spn routes
 * and the `krbfleet spn` verbs through a listening console.
 */
describe('spn-sync RPC, console routes and CLI', { timeout: 300_000 }, () => {
  let world: World
  let sync: SpnSync
  let app: ConsoleApp
  let url: string
  let kaDn: string
  let otherDn: string
  const tokens = { viewer: 'spn-viewer-token', operator: 'spn-operator-token' }
  const actor = 'user:test'
  const rpc = <T>(operation: string, body: unknown) =>
    callRpc<T>(world.bus, ServiceName.SpnSync, operation, body, { actor })

  before(
    async () => {
      world = await startWorld()
      sync = await world.startService()
      kaDn = await world.createComputer('KEDGE')
      otherDn = await world.createComputer('OTHEREDGE')
      await world.directory.modifySpns(otherDn, { add: ['HTTP/taken-edge.corp.example.com'] })
      await world.directory.modifySpns(kaDn, { add: ['HTTP/hand.corp.example.com'] })
      await world.forceSpn(otherDn, 'http/HAND.corp.example.com')
      // Enabled without an event: nothing is written until a test asks.
      await world.enable(
        [webPool('pooledge', 'ennis', { aliases: ['taken-edge.corp.example.com'], shortNameSpns: true })],
        { ennis: 'CORP\\KEDGE' },
        { publish: false },
      )
      app = await buildApp({
        logger: silentLogger(),
        tokens: [
          { name: 'viewer', role: 'viewer', sha256: hashToken(tokens.viewer) },
          { name: 'operator', role: 'operator', sha256: hashToken(tokens.operator) },
        ],
        rpc: (service, operation, body, options) => callRpc(world.bus, service, operation, body, options),
        publish: (e) => world.bus.publish(e),
      })
      url = await app.listen({ host: '127.0.0.1', port: 0 })
    },
    { timeout: 120_000 },
  )
  after(
    async () => {
      await app?.close()
      await world?.close()
    },
    { timeout: 60_000 },
  )

  async function cli(args: string[], token = tokens.viewer) {
    let stdout = ''
    let stderr = ''
    const io: CliIo = {
      env: { KRBFLEET_URL: url, KRBFLEET_TOKEN: token },
      stdout: (t) => {
        stdout += t
      },
      stderr: (t) => {
        stderr += t
      },
      readStdin: async () => '',
      readFile: async () => '',
    }
    const code = await runCli(args, io, commandModules)
    return { code, stdout, stderr }
  }

  it('spn.desired answers what the enabled revision wants', async () => {
    const desired = await rpc<SpnDesired>(Op.desired, { account: 'corp\\kedge' })
    assert.deepEqual(desired, {
      account: 'CORP\\KEDGE',
      revision: 1,
      sites: ['ennis'],
      spns: [
        'HTTP/pooledge',
        'HTTP/pooledge.corp.example.com',
        'HTTP/taken-edge',
        'HTTP/taken-edge.corp.example.com',
      ],
    })
  })

  it('spn.plan shows the diff and the conflict, and writes nothing', async () => {
    const plan = await rpc<SpnPlan>(Op.plan, {})
    assert.equal(plan.revision, 1)
    assert.deepEqual(plan.accounts, [
      {
        account: 'CORP\\KEDGE',
        dn: kaDn,
        desired: [
          'HTTP/pooledge',
          'HTTP/pooledge.corp.example.com',
          'HTTP/taken-edge',
          'HTTP/taken-edge.corp.example.com',
        ],
        add: ['HTTP/pooledge', 'HTTP/pooledge.corp.example.com', 'HTTP/taken-edge'],
        remove: [],
        keepForeign: ['HTTP/hand.corp.example.com'],
        conflicts: [{ spn: 'HTTP/taken-edge.corp.example.com', holder: otherDn }],
      },
    ])
    assert.deepEqual(await world.spnsOf(kaDn), ['HTTP/hand.corp.example.com'])
    assert.equal(await world.ownedSpns('CORP\\KEDGE'), null)
  })

  it('spn.query and spn.duplicates answer like setspn -Q and -X', async () => {
    const query = await rpc<SpnQueryResult>(Op.query, { spn: 'http/TAKEN-EDGE.corp.example.com' })
    assert.deepEqual(query, {
      spn: 'http/taken-edge.corp.example.com',
      holders: [{ dn: otherDn, samAccountName: 'OTHEREDGE$', spn: 'HTTP/taken-edge.corp.example.com' }],
    })
    const none = await rpc<SpnQueryResult>(Op.query, { spn: 'HTTP/nobody.corp.example.com' })
    assert.deepEqual(none.holders, [])
    const duplicates = await rpc<SpnDuplicates>(Op.duplicates, {})
    assert.deepEqual(duplicates.duplicates, [
      {
        spn: duplicates.duplicates[0]!.spn,
        holders: [
          { dn: kaDn, samAccountName: 'KEDGE$', spn: 'HTTP/hand.corp.example.com' },
          { dn: otherDn, samAccountName: 'OTHEREDGE$', spn: 'http/HAND.corp.example.com' },
        ],
      },
    ])
  })

  it('bad input is refused naming the field and the rule', async () => {
    const refused = async (operation: string, body: unknown, field: string, code: string) => {
      await assert.rejects(rpc(operation, body), (err: unknown) => {
        assert.ok(err instanceof KrbfleetError)
        assert.equal(err.code, code, err.message)
        assert.equal(err.field, field, err.message)
        return true
      })
    }
    await refused(Op.query, { spn: 'no spn here' }, 'spn', 'rule_violation')
    await refused(Op.list, { account: 'KEDGE' }, 'account', 'rule_violation')
    await refused(Op.list, { account: 'CORP\\NOSUCH' }, 'account', 'not_found')
    await refused(Op.plan, { account: 'CORP\\KEDGE', extra: 1 }, 'extra', 'invalid')
    await refused(Op.desired, {}, 'account', 'invalid')
  })

  it('the console serves the routes by role and the CLI prints tables and JSON', async () => {
    const plan = await cli(['spn', 'plan'])
    assert.equal(plan.code, 1, 'a blocked SPN makes the plan exit 1')
    assert.match(plan.stdout, /^1 desired SPN\(s\) blocked, not written to AD/m)
    assert.match(plan.stdout, /^topology revision 1$/m)
    assert.match(plan.stdout, /^ {2}\+ HTTP\/pooledge\.corp\.example\.com$/m)
    assert.match(plan.stdout, /^ {2}! HTTP\/taken-edge\.corp\.example\.com {2}held by CN=OTHEREDGE/m)

    const refused = await cli(['spn', 'reconcile'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /forbidden/)
    assert.deepEqual(await world.spnsOf(kaDn), ['HTTP/hand.corp.example.com'], 'a viewer changes nothing')

    const dry = await cli(
      ['spn', 'reconcile', '--dry-run', '--json', '--account', 'CORP\\KEDGE'],
      tokens.operator,
    )
    assert.equal(dry.code, 1, 'the blocked SPN makes the dry run exit 1')
    assert.equal((JSON.parse(dry.stdout) as SpnPlan).accounts[0]!.add.length, 3)
    assert.deepEqual(await world.spnsOf(kaDn), ['HTTP/hand.corp.example.com'], 'a dry run changes nothing')

    const done = await cli(['spn', 'reconcile', '--json'], tokens.operator)
    assert.equal(done.code, 1, 'HTTP/taken-edge.corp.example.com stays blocked')
    const result = JSON.parse(done.stdout) as SpnReconcileResult
    assert.deepEqual(
      result.accounts.map((a) => [a.account, a.outcome, a.added]),
      [['CORP\\KEDGE', 'changed', ['HTTP/pooledge', 'HTTP/pooledge.corp.example.com', 'HTTP/taken-edge']]],
    )

    const list = await cli(['spn', 'list', 'CORP\\KEDGE'])
    assert.equal(list.code, 0, list.stderr)
    assert.match(
      list.stdout,
      /^Registered ServicePrincipalNames for CN=KEDGE,CN=Computers,DC=corp,DC=example,DC=com:$/m,
    )
    assert.match(list.stdout, /^HTTP\/hand\.corp\.example\.com\s+foreign\s+no$/m)
    assert.match(list.stdout, /^HTTP\/pooledge\.corp\.example\.com\s+krbfleet\s+yes$/m)
    assert.match(list.stdout, /^missing \(desired by revision 1\): HTTP\/taken-edge\.corp\.example\.com$/m)
    const listJson = JSON.parse((await cli(['spn', 'list', 'CORP\\KEDGE', '--json'])).stdout) as SpnListing
    assert.equal(listJson.spns.length, 4)

    const query = await cli(['spn', 'query', 'HTTP/taken-edge.corp.example.com'])
    assert.match(
      query.stdout,
      /is held by:\n.*\nCN=OTHEREDGE,CN=Computers,DC=corp,DC=example,DC=com\s+OTHEREDGE\$/,
    )
    const dups = await cli(['spn', 'duplicates'])
    assert.match(dups.stdout, /^found 1 duplicate SPN\(s\):$/m)
    const bad = await cli(['spn', 'query', 'not-an-spn'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /rule_violation: spn: 'not-an-spn' is not a service principal name/)
    const desired = await cli(['spn', 'desired', 'CORP\\KEDGE', '--json'])
    assert.equal((JSON.parse(desired.stdout) as SpnDesired).spns.length, 4)

    // Through the console directly: the status of a refusal comes from its error code.
    const res = await app.inject({
      method: 'GET',
      url: '/v1/spn/accounts/CORP.NOSUCH',
      headers: { authorization: `Bearer ${tokens.viewer}` },
    })
    assert.equal(res.statusCode, 404)
    assert.equal(res.json().error.field, 'account')
  })

  it('property: whatever an operator sends to the spn routes, the answer is never a 5xx', async () => {
    const text = fc.oneof(
      fc.constantFrom(
        'CORP\\KEDGE',
        'CORP.KEDGE',
        'corp\\kedge$',
        'CORP\\',
        '\\X',
        'HTTP/pooledge.corp.example.com',
        'HTTP/x:0',
        'http/*)(cn=*',
        '*)(servicePrincipalName=*',
        'CORP\\abcdefghijklmnopq',
        '../../etc',
        '%00',
        'ÄÖÜ/host',
        '',
      ),
      fc.string({ maxLength: 40 }),
    )
    const request = fc.oneof(
      text.map((v) => ({ method: 'GET' as const, url: `/v1/spn/plan?account=${encodeURIComponent(v)}` })),
      text.map((v) => ({ method: 'GET' as const, url: `/v1/spn/accounts/${encodeURIComponent(v)}` })),
      text.map((v) => ({ method: 'GET' as const, url: `/v1/spn/accounts/${encodeURIComponent(v)}/desired` })),
      text.map((v) => ({ method: 'GET' as const, url: `/v1/spn/query?spn=${encodeURIComponent(v)}` })),
      fc.anything().map((body) => ({ method: 'POST' as const, url: '/v1/spn/reconcile?dryRun=true', body })),
      fc
        .record({ account: text })
        .map((body) => ({ method: 'POST' as const, url: '/v1/spn/reconcile?dryRun=true', body })),
    )
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = { authorization: `Bearer ${tokens.operator}` }
        if ('body' in r) headers['content-type'] = 'application/json'
        const res = await app.inject({
          method: r.method,
          url: r.url,
          headers,
          ...('body' in r ? { payload: JSON.stringify(r.body ?? null) } : {}),
        })
        assert.ok(res.statusCode < 500, `${r.method} ${r.url} -> ${res.statusCode} ${res.body}`)
        if (res.statusCode >= 400) assert.ok(res.json().error?.code, res.body)
      }),
      { numRuns: 300 },
    )
    // Nothing was written: the dry runs and refusals left AD as it was after the reconcile above.
    assert.deepEqual(await world.spnsOf(otherDn), [
      'HTTP/taken-edge.corp.example.com',
      'http/HAND.corp.example.com',
    ])
  })

  it('without spn-sync running, the console answers unavailable', async () => {
    await sync.stop()
    const res = await app.inject({
      method: 'GET',
      url: '/v1/spn/duplicates',
      headers: { authorization: `Bearer ${tokens.viewer}` },
    })
    assert.equal(res.statusCode, 503)
  })
})
