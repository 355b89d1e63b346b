import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import type { HTTPMethods } from 'fastify'
import { auth, type ConsoleWorld, startConsoleWorld } from './helpers.ts'

/**
 * Property: whatever body (and path parameter) a mutating route receives, the answer is never a
 * 5xx, and a refused request (4xx) leaves the draft exactly as it was. At least 1,000 random
 * requests per route; one app and one topology service for the whole file (2 cores).
 */

const RUNS = Number(process.env.KRBFLEET_PROPERTY_RUNS ?? 1000)

const names = fc.constantFrom(
  'Redmond',
  'redmond',
  'Dublin',
  'pool01.corp.example.com',
  'POOL02.corp.example.com',
  'web1.corp.example.com',
  'web9.corp.example.com',
  'CORP\\KERBAUTH',
  'CORP\\K2',
  'corp\\abcdefghijklmnopq',
  '',
  ' ',
  '-bad-.com',
  'a..b',
  'x'.repeat(300),
  '../../etc',
  '*)(cn=*',
  '%00',
  'ÄÖÜ.example.com',
)
const text = fc.oneof(names, fc.string({ maxLength: 40 }), fc.string({ maxLength: 10, unit: 'grapheme' }))
const scalar = fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null), fc.double())
const value = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 4 }),
  fc.dictionary(text, scalar, { maxKeys: 3 }),
)

/** A record with some of the route's real fields (random values) and sometimes a stranger. */
function shaped(fieldsOf: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const plausible = fc.record(fieldsOf, { requiredKeys: [] })
  const withExtra = fc
    .tuple(plausible, fc.dictionary(text, value, { maxKeys: 2 }))
    .map(([a, b]) => ({ ...b, ...a }))
  return fc.oneof(
    { weight: 5, arbitrary: plausible },
    { weight: 2, arbitrary: withExtra },
    { weight: 1, arbitrary: fc.anything() },
    { weight: 1, arbitrary: value },
  )
}
const maybe = (a: fc.Arbitrary<unknown>) => fc.oneof(a, value)
const hostList = fc.array(fc.oneof(names, text), { maxLength: 3 })
const poolFields = {
  webServices: maybe(fc.boolean()),
  internalWebFqdn: maybe(fc.oneof(names, fc.constant(null))),
  externalWebFqdn: maybe(names),
  loadBalancerNames: maybe(hostList),
  aliases: maybe(hostList),
  shortNameSpns: maybe(fc.boolean()),
  dryRun: maybe(fc.boolean()),
}
const documentBody = fc.record(
  {
    document: maybe(
      fc.record(
        {
          sites: maybe(fc.array(fc.record({ name: maybe(names) }), { maxLength: 3 })),
          pools: maybe(fc.array(fc.record({ fqdn: maybe(names), site: maybe(names) }), { maxLength: 3 })),
          servers: maybe(fc.array(fc.record({ fqdn: maybe(names), pool: maybe(names) }), { maxLength: 3 })),
          assignments: maybe(
            fc.array(fc.record({ site: maybe(names), account: maybe(names) }), { maxLength: 2 }),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    dryRun: maybe(fc.boolean()),
  },
  { requiredKeys: [] },
)

interface RouteCase {
  method: HTTPMethods
  /** `:param` is replaced by a random (encoded) path value. */
  url: string
  body?: fc.Arbitrary<unknown>
  /** Bodies the route accepts against the seeded topology, mixed in now and then (see below). */
  valid?: fc.Arbitrary<unknown>
}

const someN = fc.integer({ min: 2, max: 999 })
const existingSite = fc.constantFrom('Redmond', 'Dublin')

const routes: RouteCase[] = [
  {
    method: 'POST',
    url: '/v1/sites',
    body: shaped({ name: maybe(names), ntlmOnly: maybe(fc.boolean()), dryRun: maybe(fc.boolean()) }),
    valid: fc.record({ name: someN.map((n) => `Site${n}`), ntlmOnly: fc.boolean() }),
  },
  {
    method: 'PATCH',
    url: '/v1/sites/:param',
    body: shaped({ ntlmOnly: maybe(fc.boolean()), dryRun: maybe(fc.boolean()) }),
  },
  { method: 'DELETE', url: '/v1/sites/:param' },
  {
    method: 'POST',
    url: '/v1/pools',
    body: shaped({ fqdn: maybe(names), site: maybe(names), ...poolFields }),
    valid: fc.record({ fqdn: someN.map((n) => `pool${n}.corp.example.com`), site: existingSite }),
  },
  { method: 'PATCH', url: '/v1/pools/:param', body: shaped(poolFields) },
  { method: 'DELETE', url: '/v1/pools/:param' },
  {
    method: 'POST',
    url: '/v1/servers',
    body: shaped({
      fqdn: maybe(names),
      pool: maybe(names),
      backend: maybe(fc.constantFrom('iis', 'keytab', 'apache')),
    }),
    valid: fc.record({
      fqdn: someN.map((n) => `web${n}.corp.example.com`),
      pool: fc.constant('pool01.corp.example.com'),
    }),
  },
  { method: 'DELETE', url: '/v1/servers/:param' },
  {
    method: 'POST',
    url: '/v1/assignments',
    body: shaped({ site: maybe(names), account: maybe(names) }),
    // Dublin has no account yet: the first of these is accepted, the next ones are conflicts.
    valid: fc.record({ site: fc.constant('Dublin'), account: fc.constantFrom('CORP\\K2', 'CORP\\KERBAUTH') }),
  },
  {
    method: 'PUT',
    url: '/v1/assignments/:param',
    body: shaped({ account: maybe(names), dryRun: maybe(fc.boolean()) }),
  },
  { method: 'DELETE', url: '/v1/assignments/:param' },
  {
    method: 'POST',
    url: '/v1/topology/apply',
    body: fc.oneof({ weight: 4, arbitrary: documentBody }, fc.anything()),
  },
  {
    method: 'POST',
    url: '/v1/topology/enable',
    body: fc.oneof(fc.constant(undefined), shaped({ dryRun: maybe(fc.boolean()) })),
  },
]

const query = fc.oneof(
  fc.constant(''),
  fc.constant('?dryRun=true'),
  fc.constant('?force=true'),
  fc.constant('?force=true&dryRun=true'),
  fc.constant('?dryRun=perhaps'),
  fc.string({ maxLength: 12 }).map((s) => `?${encodeURIComponent(s)}=1`),
)

describe('every mutating route under random input', () => {
  let world: ConsoleWorld
  before(async () => {
    // Thousands of requests a route by design: the rate limit (rate-limit.int.test.ts) stays out of the way.
    world = await startConsoleWorld({
      rateLimit: { max: 1_000_000, anonymousMax: 1_000_000, windowSeconds: 1 },
    })
  })
  /**
   * Each route starts from the same topology (an earlier route's forced site removal would
   * otherwise leave nothing for a pool, server or assignment to refer to, and every one of them
   * would be refused).
   */
  async function seed(): Promise<void> {
    const document = {
      sites: [{ name: 'Redmond' }, { name: 'Dublin' }],
      pools: [{ fqdn: 'pool01.corp.example.com', site: 'Redmond' }],
      servers: [{ fqdn: 'web1.corp.example.com', pool: 'pool01.corp.example.com' }],
      assignments: [{ site: 'Redmond', account: 'CORP\\KERBAUTH' }],
    }
    const r = await world.app.inject({
      method: 'POST',
      url: '/v1/topology/apply',
      payload: { document },
      headers: auth('admin'),
    })
    assert.equal(r.statusCode, 200, r.body)
  }
  after(async () => {
    await world?.stop()
  })

  for (const route of routes) {
    test(`${route.method} ${route.url}: no 5xx, a refused request changes nothing (${RUNS} runs)`, async () => {
      await seed()
      let refused = 0
      let accepted = 0
      await fc.assert(
        fc.asyncProperty(
          // Random shapes mostly; a valid body one time in five, so that accepted requests (and
          // their dry runs) are part of the property too.
          route.valid && route.body
            ? fc.oneof({ weight: 4, arbitrary: route.body }, { weight: 1, arbitrary: route.valid })
            : (route.body ?? fc.constant(undefined)),
          fc.oneof(names, fc.string({ maxLength: 30 })),
          query,
          async (body, param, q) => {
            const before = await world.topology.store.readDraft()
            const url = route.url.replace(':param', encodeURIComponent(param) || '%20') + q
            const headers: Record<string, string> = { ...auth('admin') }
            let payload: string | undefined
            if (body !== undefined) {
              // fc.anything() may hold values JSON cannot carry; send what JSON makes of them.
              payload = JSON.stringify(body) ?? 'null'
              headers['content-type'] = 'application/json'
            }
            const r = await world.app.inject({
              method: route.method,
              url,
              headers,
              ...(payload !== undefined ? { payload } : {}),
            })
            assert.ok(r.statusCode < 500, `${route.method} ${url} ${payload}: ${r.statusCode} ${r.body}`)
            const answer = r.json()
            if (r.statusCode >= 400) {
              refused++
              assert.equal(typeof answer.error?.code, 'string', r.body)
              assert.equal(typeof answer.error?.message, 'string', r.body)
              assert.deepEqual(
                await world.topology.store.readDraft(),
                before,
                `refused ${url} changed the draft`,
              )
            } else {
              accepted++
              if (answer.dryRun)
                assert.deepEqual(await world.topology.store.readDraft(), before, 'dry run changed the draft')
            }
          },
        ),
        { numRuns: RUNS },
      )
      assert.ok(refused > 0, 'some requests were refused')
      // The generators aim at real fields, so that the property is not only about refusals: a
      // route without a path parameter must have accepted some requests. (A route with one needs
      // a random path value naming something that exists, so it may accept none.)
      if (!route.url.includes(':param')) {
        assert.ok(accepted > 0, `no random request was accepted (${refused} refused)`)
      }
    })
  }
})
