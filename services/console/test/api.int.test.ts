import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { ChangeRecorded, SiteAdded, SiteChanged } from '@krbfleet/contracts'
import type { InjectOptions } from 'fastify'
import { auth, type ConsoleWorld, lastSeq, startConsoleWorld, storedEvents } from './helpers.ts'

describe('console API (app.inject) with real NATS and a topology service', () => {
  let world: ConsoleWorld
  before(async () => {
    world = await startConsoleWorld()
  })
  after(async () => {
    await world?.stop()
  })
  const inject = (options: InjectOptions) => world.app.inject(options)
  const audits = async (from: number) =>
    (await storedEvents(world.bus, from + 1)).filter((e) => e.type === ChangeRecorded.type)

  test('401 without or with an unknown token; 403 for a role too low', async () => {
    const none = await inject({ method: 'GET', url: '/v1/sites' })
    assert.equal(none.statusCode, 401)
    assert.equal(none.headers['www-authenticate'], 'Bearer')
    assert.equal(none.json().error.code, 'unauthorized')
    const wrong = await inject({ method: 'GET', url: '/v1/sites', headers: { authorization: 'Bearer nope' } })
    assert.equal(wrong.statusCode, 401)
    const basic = await inject({ method: 'GET', url: '/v1/sites', headers: { authorization: 'Basic eDp5' } })
    assert.equal(basic.statusCode, 401)
    for (const url of ['/%761/sites', '/v1//sites', '/./v1/sites', '/v1/sites/']) {
      const encoded = await inject({ method: 'GET', url })
      assert.equal(encoded.statusCode, 401, url)
      assert.match(encoded.json().error.message, /bearer token is required/, url)
    }
    const from = await lastSeq(world.bus)
    for (const role of ['viewer', 'operator'] as const) {
      const r = await inject({
        method: 'POST',
        url: '/v1/sites',
        headers: auth(role),
        payload: { name: 'Nope' },
      })
      assert.equal(r.statusCode, 403)
      assert.match(r.json().error.message, /needs the admin role/)
    }
    const refused = await audits(from)
    assert.deepEqual(
      refused.map((e) => [e.actor, (e.data as { outcome: string }).outcome]),
      [
        ['token:viewer-token', 'refused'],
        ['token:operator-token', 'refused'],
      ],
    )
    assert.equal((await world.topology.store.readDraft()).topology.sites.length, 0)
  })

  test('admin builds a topology; viewers read it; every change audited with its actor', async () => {
    const from = await lastSeq(world.bus)
    const admin = auth('admin')
    const steps = [
      { method: 'POST', url: '/v1/sites', payload: { name: 'Redmond' } },
      { method: 'POST', url: '/v1/pools', payload: { fqdn: 'Pool01.corp.example.com', site: 'Redmond' } },
      {
        method: 'POST',
        url: '/v1/servers',
        payload: { fqdn: 'web1.corp.example.com', pool: 'pool01.corp.example.com' },
      },
      { method: 'POST', url: '/v1/assignments', payload: { site: 'Redmond', account: 'CORP\\KERBAUTH' } },
    ] as const
    for (const step of steps) {
      const r = await inject({ ...step, headers: admin })
      assert.equal(r.statusCode, 201, r.body)
      assert.equal(r.json().dryRun, false)
    }
    const patch = await inject({
      method: 'PATCH',
      url: '/v1/pools/pool01.corp.example.com',
      headers: admin,
      payload: { aliases: ['www.corp.example.com'] },
    })
    assert.equal(patch.statusCode, 200, patch.body)
    const set = await inject({
      method: 'PUT',
      url: '/v1/assignments/redmond',
      headers: admin,
      payload: { account: 'CORP\\KERB2' },
    })
    assert.equal(set.statusCode, 200, set.body)
    const enable = await inject({ method: 'POST', url: '/v1/topology/enable', headers: admin })
    assert.equal(enable.statusCode, 200)
    assert.equal(enable.json().enabledRevision, 1)

    const viewer = auth('viewer')
    const servers = await inject({ method: 'GET', url: '/v1/servers?site=redmond', headers: viewer })
    assert.deepEqual(servers.json().servers, [
      {
        fqdn: 'web1.corp.example.com',
        pool: 'pool01.corp.example.com',
        site: 'Redmond',
        backend: 'iis',
        enrolled: false,
      },
    ])
    const sites = await inject({ method: 'GET', url: '/v1/sites', headers: viewer })
    assert.deepEqual(sites.json().sites, [{ name: 'Redmond', pools: 1, servers: 1, account: 'CORP\\KERB2' }])
    const pools = await inject({ method: 'GET', url: '/v1/pools', headers: viewer })
    assert.deepEqual(pools.json().pools[0].aliases, ['www.corp.example.com'])
    const assignment = await inject({ method: 'GET', url: '/v1/assignments?site=Redmond', headers: viewer })
    assert.deepEqual(assignment.json().assignments, [{ site: 'Redmond', account: 'CORP\\KERB2' }])
    const enabled = await inject({ method: 'GET', url: '/v1/topology?source=enabled', headers: viewer })
    assert.equal(enabled.json().revision, 1)

    const recorded = await audits(from)
    assert.deepEqual(
      recorded.map((e) => [
        e.actor,
        (e.data as { action: string }).action,
        (e.data as { outcome: string }).outcome,
      ]),
      [
        ['token:admin-token', 'site.add', 'applied'],
        ['token:admin-token', 'pool.add', 'applied'],
        ['token:admin-token', 'server.add', 'applied'],
        ['token:admin-token', 'assignment.new', 'applied'],
        ['token:admin-token', 'pool.set', 'applied'],
        ['token:admin-token', 'assignment.set', 'applied'],
        ['token:admin-token', 'topology.enable', 'applied'],
      ],
    )
    // the topology events carry the same actor
    const topologyEvents = (await storedEvents(world.bus, from + 1)).filter((e) =>
      e.type.startsWith('krbfleet.topology.'),
    )
    assert.ok(topologyEvents.length >= 7)
    assert.ok(topologyEvents.every((e) => e.actor === 'token:admin-token'))
  })

  test('bad input is a 4xx naming the field and the rule; nothing changes', async () => {
    const admin = auth('admin')
    const before = await world.topology.store.readDraft()
    const cases: [InjectOptions, number, string, string | undefined][] = [
      [{ method: 'POST', url: '/v1/sites', payload: { name: 'Redmond' } }, 409, 'already_exists', 'name'],
      [{ method: 'POST', url: '/v1/sites', payload: { name: 'bad name' } }, 422, 'rule_violation', 'name'],
      [{ method: 'POST', url: '/v1/sites', payload: { name: 7 } }, 400, 'invalid', 'name'],
      [{ method: 'POST', url: '/v1/sites', payload: { name: 'x', color: 'red' } }, 400, 'invalid', 'color'],
      [
        { method: 'POST', url: '/v1/pools', payload: { fqdn: 'pool_1.x.com', site: 'Redmond' } },
        422,
        'rule_violation',
        'fqdn',
      ],
      [
        { method: 'POST', url: '/v1/pools', payload: { fqdn: 'p.corp.example.com', site: 'Nowhere' } },
        404,
        'not_found',
        'site',
      ],
      [
        {
          method: 'POST',
          url: '/v1/servers',
          payload: { fqdn: 'web1.corp.example.com', pool: 'pool01.corp.example.com' },
        },
        409,
        'already_exists',
        'fqdn',
      ],
      [
        { method: 'POST', url: '/v1/assignments', payload: { site: 'Redmond', account: 'CORP\\OTHER' } },
        409,
        'conflict',
        'site',
      ],
      [
        {
          method: 'POST',
          url: '/v1/assignments',
          payload: { site: 'Redmond', account: 'CORP\\ABCDEFGHIJKLMNOPQ' },
        },
        422,
        'rule_violation',
        'account',
      ],
      [
        { method: 'PUT', url: '/v1/assignments/Redmond', payload: { account: 'CORP\\ABCDEFGHIJKLMNOPQ' } },
        422,
        'rule_violation',
        'account',
      ],
      [
        { method: 'PATCH', url: '/v1/sites/Redmond', payload: { ntlmOnly: true } },
        409,
        'conflict',
        'ntlmOnly',
      ],
      [
        { method: 'PATCH', url: '/v1/sites/Redmond', payload: { ntlmOnly: 'yes' } },
        400,
        'invalid',
        'ntlmOnly',
      ],
      [{ method: 'PATCH', url: '/v1/sites/Nowhere', payload: { ntlmOnly: true } }, 404, 'not_found', 'name'],
      [{ method: 'DELETE', url: '/v1/sites/Redmond' }, 422, 'rule_violation', 'name'],
      [{ method: 'DELETE', url: '/v1/sites/Redmond?force=maybe' }, 400, 'invalid', 'query.force'],
      [{ method: 'DELETE', url: '/v1/pools/pool01.corp.example.com' }, 422, 'rule_violation', 'fqdn'],
      [{ method: 'GET', url: '/v1/topology?source=latest' }, 400, 'invalid', 'source'],
      [
        { method: 'POST', url: '/v1/topology/apply', payload: { document: { sites: 'all' } } },
        400,
        'invalid',
        'document.sites',
      ],
      [{ method: 'POST', url: '/v1/topology/enable', payload: { now: true } }, 400, 'invalid', 'now'],
      [
        {
          method: 'POST',
          url: '/v1/sites',
          payload: '{"name":',
          headers: { 'content-type': 'application/json' },
        },
        400,
        'invalid',
        undefined,
      ],
      [
        {
          method: 'POST',
          url: '/v1/sites',
          payload: 'name=x',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        415,
        'invalid',
        undefined,
      ],
      [{ method: 'GET', url: '/v1/nothing' }, 404, 'not_found', undefined],
    ]
    for (const [request, status, code, field] of cases) {
      const r = await inject({
        ...request,
        headers: { ...admin, ...(request as { headers?: object }).headers },
      })
      assert.equal(r.statusCode, status, `${request.method} ${request.url}: ${r.body}`)
      const error = r.json().error
      assert.equal(error.code, code, r.body)
      assert.equal(error.field, field, r.body)
      assert.ok(error.message.length > 0)
    }
    assert.deepEqual(await world.topology.store.readDraft(), before)
  })

  test('dryRun decides and reports, writes nothing, and is audited as dry-run', async () => {
    const admin = auth('admin')
    const before = await world.topology.store.readDraft()
    const from = await lastSeq(world.bus)
    const r = await inject({
      method: 'DELETE',
      url: '/v1/sites/Redmond?force=true&dryRun=true',
      headers: admin,
    })
    assert.equal(r.statusCode, 200)
    assert.equal(r.json().dryRun, true)
    assert.ok(r.json().changes.length >= 4)
    const add = await inject({
      method: 'POST',
      url: '/v1/sites',
      headers: admin,
      payload: { name: 'Dry', dryRun: true },
    })
    assert.equal(add.statusCode, 200)
    const enable = await inject({ method: 'POST', url: '/v1/topology/enable?dryRun=true', headers: admin })
    assert.equal(enable.statusCode, 200)
    assert.deepEqual(await world.topology.store.readDraft(), before)
    const events = await storedEvents(world.bus, from + 1)
    assert.deepEqual(
      events.map((e) => [e.type, (e.data as { outcome?: string }).outcome]),
      [
        [ChangeRecorded.type, 'dry-run'],
        [ChangeRecorded.type, 'dry-run'],
        [ChangeRecorded.type, 'dry-run'],
      ],
    )
  })

  test('plan is open to viewers and writes nothing; apply needs admin', async () => {
    const document = { sites: [{ name: 'Redmond' }, { name: 'Dublin' }] }
    const plan = await inject({
      method: 'POST',
      url: '/v1/topology/plan',
      headers: auth('viewer'),
      payload: { document },
    })
    assert.equal(plan.statusCode, 200, plan.body)
    assert.deepEqual(plan.json().diff.sitesAdded, ['Dublin'])
    assert.deepEqual(plan.json().diff.poolsRemoved, ['pool01.corp.example.com'])
    const apply = await inject({
      method: 'POST',
      url: '/v1/topology/apply',
      headers: auth('operator'),
      payload: { document },
    })
    assert.equal(apply.statusCode, 403)
  })

  test('OpenAPI at /docs, health and readiness without a token; metrics with one (the default)', async () => {
    const spec = await inject({ method: 'GET', url: '/docs/json' })
    assert.equal(spec.statusCode, 200)
    const paths = Object.keys(spec.json().paths)
    for (const p of [
      '/v1/sites',
      '/v1/pools/{fqdn}',
      '/v1/servers',
      '/v1/assignments/{site}',
      '/v1/topology/apply',
    ]) {
      assert.ok(paths.includes(p), p)
    }
    assert.equal((await inject({ method: 'GET', url: '/docs' })).statusCode < 400, true)
    assert.equal((await inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
    const ready = await inject({ method: 'GET', url: '/readyz' })
    assert.deepEqual(ready.json(), { status: 'ready', checks: { nats: true } })
    assert.equal((await inject({ method: 'GET', url: '/metrics' })).statusCode, 401)
    const metrics = await inject({ method: 'GET', url: '/metrics', headers: auth('viewer') })
    assert.equal(metrics.statusCode, 200)
    assert.match(metrics.body, /krbfleet_console_changes_total\{action="site.add",outcome="applied"\} 1/)
  })

  test('no token or secret in any answer or audit record', async () => {
    const events = await storedEvents(world.bus)
    const text = JSON.stringify(events)
    for (const secret of ['admin-secret-token', 'viewer-secret-token', 'operator-secret-token']) {
      assert.ok(!text.includes(secret))
    }
  })

  test('a site marked NTLM only on purpose: listed with the mark, refused an account, the mark taken away again', async () => {
    const admin = auth('admin')
    const from = await lastSeq(world.bus)
    const add = await inject({
      method: 'POST',
      url: '/v1/sites',
      headers: admin,
      payload: { name: 'Oslo', ntlmOnly: true },
    })
    assert.equal(add.statusCode, 201, add.body)
    const denied = await inject({
      method: 'PATCH',
      url: '/v1/sites/Oslo',
      headers: auth('viewer'),
      payload: { ntlmOnly: false },
    })
    assert.equal(denied.statusCode, 403, denied.body)
    const listed = await inject({ method: 'GET', url: '/v1/sites', headers: auth('viewer') })
    assert.deepEqual(
      listed.json().sites.find((s: { name: string }) => s.name === 'Oslo'),
      { name: 'Oslo', pools: 0, servers: 0, ntlmOnly: true },
    )
    const assign = await inject({
      method: 'POST',
      url: '/v1/assignments',
      headers: admin,
      payload: { site: 'Oslo', account: 'CORP\\OSLO' },
    })
    assert.equal(assign.statusCode, 409, assign.body)
    assert.equal(assign.json().error.field, 'site')
    assert.match(assign.json().error.message, /marked NTLM only/)
    const unmark = await inject({
      method: 'PATCH',
      url: '/v1/sites/oslo',
      headers: admin,
      payload: { ntlmOnly: false },
    })
    assert.equal(unmark.statusCode, 200, unmark.body)
    assert.deepEqual(unmark.json().changes, [
      { type: 'SiteChanged', data: { site: 'Oslo', ntlmOnly: false } },
    ])
    const events = (await storedEvents(world.bus, from + 1)).filter((e) =>
      e.type.startsWith('krbfleet.topology.Site'),
    )
    assert.deepEqual(
      events.map((e) => [e.type, e.data]),
      [
        [SiteAdded.type, { site: 'Oslo', ntlmOnly: true }],
        [SiteChanged.type, { site: 'Oslo', ntlmOnly: false }],
      ],
    )
    const removed = await inject({ method: 'DELETE', url: '/v1/sites/Oslo', headers: admin })
    assert.equal(removed.statusCode, 200, removed.body)
  })
})
