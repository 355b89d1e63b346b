import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { ChangeRecorded } from '@krbfleet/contracts'
import {
  auth,
  type ConsoleWorld,
  lastSeq,
  type StandInCall,
  startConsoleWorld,
  startStandIns,
  storedEvents,
} from './helpers.ts'

/**
 * The body rule of plugins/validation.ts, walked over EVERY route that is not a GET (read from
 * the registered routes, so that a route added later is covered too): a string `dryRun` ("true")
 * or an unknown field is a 400 naming the field, and nothing changes (draft, account and spn-sync
 * services, audit): without the rule, DELETE /v1/servers/x with `{"dryRun":"true"}` would delete
 * the server. `?dryRun=true` in the query keeps working.
 */

/** A valid body for each route that declares one (the default body rule needs none). */
const validBodies: Record<string, Record<string, unknown>> = {
  'POST /v1/sites': { name: 'Paris' },
  'PATCH /v1/sites/:name': { ntlmOnly: false },
  'POST /v1/pools': { fqdn: 'pool09.corp.example.com', site: 'Redmond' },
  'PATCH /v1/pools/:fqdn': { shortNameSpns: true },
  'POST /v1/servers': { fqdn: 'web9.corp.example.com', pool: 'pool01.corp.example.com' },
  'POST /v1/assignments': { site: 'Dublin', account: 'CORP\\K2' },
  'PUT /v1/assignments/:site': { account: 'CORP\\K2' },
  'POST /v1/topology/plan': { document: { sites: [{ name: 'Oslo' }] } },
  'POST /v1/topology/apply': { document: { sites: [{ name: 'Oslo' }] } },
  'POST /v1/accounts': { account: 'CORP\\NEW1' },
  'POST /v1/spn/reconcile': { account: 'CORP\\KERBAUTH' },
  'POST /v1/password-copy': { from: 'web1.corp.example.com', to: 'web2.corp.example.com' },
}

/** Path parameters naming things that exist, so that a wrongly accepted change would happen. */
function fill(url: string): string {
  return url
    .replace('/v1/pools/:fqdn', '/v1/pools/pool01.corp.example.com')
    .replace('/v1/servers/:fqdn', '/v1/servers/web1.corp.example.com')
    .replace(':name', 'Redmond')
    .replace(':site', 'Redmond')
    .replace(':account', 'CORP.KERBAUTH')
}

/** Operations of the stand-ins that change AD or the secret store unless asked for a dry run. */
const mutating = new Set([
  'account.create',
  'account.remove',
  'password.reset',
  'password.set',
  'password.copy',
  'spn.reconcile',
])

describe('a body the route does not allow is refused with nothing changed, on every route', () => {
  let world: ConsoleWorld
  let standIns: Awaited<ReturnType<typeof startStandIns>>
  before(async () => {
    world = await startConsoleWorld()
    standIns = await startStandIns(world.bus)
    const admin = auth('admin')
    for (const [method, url, payload] of [
      ['POST', '/v1/sites', { name: 'Redmond' }],
      ['POST', '/v1/sites', { name: 'Dublin' }],
      ['POST', '/v1/pools', { fqdn: 'pool01.corp.example.com', site: 'Redmond' }],
      ['POST', '/v1/servers', { fqdn: 'web1.corp.example.com', pool: 'pool01.corp.example.com' }],
      ['POST', '/v1/assignments', { site: 'Redmond', account: 'CORP\\KERBAUTH' }],
    ] as const) {
      const r = await world.app.inject({ method, url, payload, headers: admin })
      assert.equal(r.statusCode, 201, r.body)
    }
  })
  after(async () => {
    await standIns?.stop()
    await world?.stop()
  })

  const changing = () =>
    world.routes
      .flatMap((r) => [r.method].flat().map((method) => ({ method, url: r.url })))
      .filter((r) => r.method !== 'GET' && r.method !== 'HEAD')

  test('the walk covers the topology, account and spn routes', () => {
    const seen = changing().map((r) => `${r.method} ${r.url}`)
    for (const expected of [
      'DELETE /v1/sites/:name',
      'DELETE /v1/pools/:fqdn',
      'DELETE /v1/servers/:fqdn',
      'DELETE /v1/assignments/:site',
      'POST /v1/topology/enable',
      'DELETE /v1/accounts/:account',
      'POST /v1/accounts/:account/password-reset',
      'POST /v1/accounts/:account/password',
      'POST /v1/password-copy',
      'POST /v1/accounts',
      'POST /v1/spn/reconcile',
    ]) {
      assert.ok(seen.includes(expected), `${expected} in ${seen.join(', ')}`)
    }
  })

  /** Sends one request; asserts nothing changed anywhere and returns the answer. */
  async function unchanged(method: string, url: string, payload: unknown) {
    const draft = await world.topology.store.readDraft()
    const from = await lastSeq(world.bus)
    const calls = standIns.calls.length
    const r = await world.app.inject({
      method: method as 'POST',
      url,
      headers: { ...auth('admin'), 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    })
    assert.ok(r.statusCode < 500, `${method} ${url}: ${r.statusCode} ${r.body}`)
    assert.deepEqual(await world.topology.store.readDraft(), draft, `${method} ${url} changed the draft`)
    const reached: StandInCall[] = standIns.calls.slice(calls)
    const changed = reached.filter(
      (c) => mutating.has(c.operation) && (c.body as { dryRun?: unknown })?.dryRun !== true,
    )
    assert.deepEqual(changed, [], `${method} ${url} ${JSON.stringify(payload)} reached a service as a change`)
    const applied = (await storedEvents(world.bus, from + 1)).filter(
      (e) => e.type === ChangeRecorded.type && (e.data as { outcome: string }).outcome === 'applied',
    )
    assert.deepEqual(applied, [], `${method} ${url} recorded an applied change`)
    return { r, reached }
  }

  test('a string dryRun and an unknown field: 400 naming the field, nothing changed', async () => {
    let routes = 0
    for (const { method, url } of changing()) {
      routes++
      const base = validBodies[`${method} ${url}`] ?? {}
      for (const [field, extra] of [
        ['dryRun', { dryRun: 'true' }],
        ['bogus', { bogus: 1 }],
      ] as const) {
        const payload = { ...base, ...extra }
        const { r, reached } = await unchanged(method, fill(url), payload)
        const what = `${method} ${fill(url)} ${JSON.stringify(payload)}: ${r.statusCode} ${r.body}`
        assert.equal(r.statusCode, 400, what)
        const error = r.json().error
        assert.equal(error.code, 'invalid', what)
        assert.equal(error.field, field, what)
        assert.deepEqual(reached, [], `${what} reached a service`)
      }
    }
    assert.ok(routes >= 15, `only ${routes} routes walked`)
  })

  test('?dryRun=true in the query still asks for a dry run', async () => {
    for (const { method, url } of changing()) {
      const base = validBodies[`${method} ${url}`]
      const target = `${fill(url)}?dryRun=true`
      const { r } = await unchanged(method, target, base ?? {})
      assert.notEqual(r.statusCode, 400, `${method} ${target}: ${r.body}`)
    }
    // And concretely: the server is still there after a dry-run delete, then really goes.
    const dry = await unchanged('DELETE', '/v1/servers/web1.corp.example.com?dryRun=true', {})
    assert.equal(dry.r.statusCode, 200, dry.r.body)
    assert.equal(dry.r.json().dryRun, true)
    const real = await world.app.inject({
      method: 'DELETE',
      url: '/v1/servers/web1.corp.example.com',
      headers: auth('admin'),
    })
    assert.equal(real.statusCode, 200, real.body)
    assert.equal((await world.topology.store.readDraft()).topology.servers.length, 0)
  })

  test('an account route with {"dryRun": true} in the body passes the dry run on', async () => {
    const calls = standIns.calls.length
    const { r } = await unchanged('POST', '/v1/accounts/CORP.KERBAUTH/password-reset', { dryRun: true })
    assert.equal(r.statusCode, 200, r.body)
    assert.deepEqual(standIns.calls.slice(calls), [
      { service: 'account', operation: 'password.reset', body: { account: 'CORP\\KERBAUTH', dryRun: true } },
    ])
  })
})
