import assert from 'node:assert/strict'
import { test } from 'node:test'
import { silentLogger } from '@krbfleet/logging'
import { buildApp, type ConsoleApp, hashToken } from '../src/index.ts'
import type { MetricsAccess } from '../src/plugins/metrics.ts'

/**
 * Who may read the API port's /metrics (KRBFLEET_CONSOLE_METRICS): `token` (the default) any valid
 * token, `off` and `open` nobody (open serves it on a port of its own: main.int.test.ts).
 */

const viewer = { authorization: 'Bearer metrics-test-viewer' }

async function app(metrics?: MetricsAccess): Promise<ConsoleApp> {
  return await buildApp(
    {
      logger: silentLogger(),
      tokens: [{ name: 'v', role: 'viewer', sha256: hashToken('metrics-test-viewer') }],
      rpc: async () => {
        throw new Error('no service here')
      },
      publish: async () => {},
    },
    metrics ? { metrics } : {},
  )
}

const get = (a: ConsoleApp, headers: Record<string, string> = {}) =>
  a.inject({ method: 'GET', url: '/metrics', headers })

for (const access of [undefined, 'token'] as const) {
  test(`metrics ${access ?? '(default)'}: 401 without a valid token, 200 with one`, async () => {
    const a = await app(access)
    try {
      const none = await get(a)
      assert.equal(none.statusCode, 401)
      assert.equal(none.json().error.code, 'unauthorized')
      assert.equal((await get(a, { authorization: 'Bearer wrong' })).statusCode, 401)
      const ok = await get(a, viewer)
      assert.equal(ok.statusCode, 200)
      assert.match(ok.headers['content-type'] as string, /^text\/plain/)
      assert.match(
        ok.body,
        /krbfleet_console_http_requests_total\{method="GET",route="\/metrics",status="401"\} 2/,
      )
      assert.equal(
        (await a.inject({ method: 'GET', url: '/healthz' })).statusCode,
        200,
        'probes need no token',
      )
    } finally {
      await a.close()
    }
  })
}

for (const [access, why] of [
  ['off', /metrics are off \(KRBFLEET_CONSOLE_METRICS=off\)/],
  ['open', /metrics are served on their own port/],
] as const) {
  test(`metrics ${access}: the API port answers 404 with or without a token; probes still answer`, async () => {
    const a = await app(access)
    try {
      for (const headers of [{}, viewer]) {
        const r = await get(a, headers)
        assert.equal(r.statusCode, 404)
        assert.equal(r.json().error.code, 'not_found')
        assert.match(r.json().error.message, why)
        assert.doesNotMatch(r.body, /krbfleet_console/)
      }
      assert.equal((await a.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
    } finally {
      await a.close()
    }
  })
}
