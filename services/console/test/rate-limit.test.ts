import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { EventEnvelope } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { type BuildAppOptions, buildApp, type ConsoleApp, hashToken } from '../src/index.ts'
import { RateWindowStore } from '../src/plugins/rate-limit-store.ts'

/**
 * The request rate limit on the console app (app.inject; no service is called: every request here
 * is refused, answered by a probe, or a read the limit stops first). The flood against real NATS
 * is audit-flood.int.test.ts.
 */

const tokens = { a: 'token-a-secret', b: 'token-b-secret' }
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function app(options: BuildAppOptions = {}): Promise<{ app: ConsoleApp; published: EventEnvelope[] }> {
  const published: EventEnvelope[] = []
  const built = await buildApp(
    {
      logger: silentLogger(),
      tokens: [
        { name: 'a', role: 'viewer', sha256: hashToken(tokens.a) },
        { name: 'b', role: 'viewer', sha256: hashToken(tokens.b) },
      ],
      rpc: async () => {
        throw new Error('no service here')
      },
      publish: async (e) => {
        published.push(e)
      },
    },
    { rateLimit: { max: 5, anonymousMax: 3, windowSeconds: 30 }, ...options },
  )
  return { app: built, published }
}

const post = (a: ConsoleApp, headers: Record<string, string> = {}) =>
  a.inject({ method: 'POST', url: '/v1/sites', headers, payload: { name: 'X' } })

test('a token over its limit gets 429 with Retry-After and the error body; another token does not', async () => {
  const { app: a } = await app()
  try {
    const statuses = []
    for (let i = 0; i < 7; i++) statuses.push((await post(a, bearer(tokens.a))).statusCode)
    assert.deepEqual(statuses, [403, 403, 403, 403, 403, 429, 429])
    const limited = await a.inject({ method: 'GET', url: '/v1/sites', headers: bearer(tokens.a) })
    assert.equal(limited.statusCode, 429)
    const retryAfter = Number(limited.headers['retry-after'])
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 30, String(retryAfter))
    const body = limited.json()
    assert.equal(body.error.code, 'rate_limited')
    assert.match(body.error.message, /^too many requests: token 'a' may send 5 in 30 s; retry in \d+ s$/)
    assert.deepEqual(body.error.details, { retryAfterSeconds: retryAfter, limit: 5, windowSeconds: 30 })
    assert.ok(!limited.body.includes(tokens.a))
    assert.equal((await post(a, bearer(tokens.b))).statusCode, 403, 'token b has a window of its own')
  } finally {
    await a.close()
  }
})

test('without a valid token, requests count per client address: made-up tokens open no new window', async () => {
  const { app: a } = await app()
  try {
    const statuses = []
    for (let i = 0; i < 5; i++) {
      statuses.push((await post(a, i % 2 ? bearer(`guess-${i}`) : {})).statusCode)
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429])
    const other = await a.inject({ method: 'POST', url: '/v1/sites', remoteAddress: '10.0.0.9', payload: {} })
    assert.equal(other.statusCode, 401, 'another address has a window of its own')
    assert.equal((await post(a, bearer(tokens.a))).statusCode, 403, 'a valid token counts per token')
  } finally {
    await a.close()
  }
})

test('/healthz and /readyz are never limited', async () => {
  const { app: a } = await app()
  try {
    for (let i = 0; i < 20; i++) {
      assert.equal((await a.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
      assert.equal((await a.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
    }
  } finally {
    await a.close()
  }
})

test('a concurrent burst: exactly the limit passes, the rest is 429; counted in /metrics; 429s are not audited', async () => {
  const { app: a, published } = await app({ rateLimit: { max: 30, anonymousMax: 3, windowSeconds: 30 } })
  try {
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(a, bearer(tokens.a))))
    const count = (status: number) => answers.filter((r) => r.statusCode === status).length
    assert.equal(count(403), 30)
    assert.equal(count(429), 20)
    const metrics = await a.inject({ method: 'GET', url: '/metrics', headers: bearer(tokens.b) })
    assert.match(metrics.body, /krbfleet_console_rate_limited_total\{caller="token"\} 20\n/)
    assert.match(metrics.body, /krbfleet_console_audit_suppressed_total\{reason="rate_limited"\} 20\n/)
    assert.match(metrics.body, /krbfleet_console_audit_suppressed_total\{reason="budget"\} 20\n/)
    assert.equal(published.length, 10, 'the default budget: 10 refusals recorded, the summary comes later')
  } finally {
    await a.close()
  }
  // Closing the app sums up the open window (main.ts closes it before NATS drains).
  assert.equal(published.length, 11)
  const summary = published[10]?.data as { detail: string } | undefined
  assert.match(
    summary?.detail ?? '',
    /^40 refused requests of token:a .*\(10 were\): 20 over the budget of 10, 20 answered 429 by the rate limit/,
  )
})

test('the store: a new window after the old one ended; addresses bounded, tokens kept', () => {
  const store = new RateWindowStore()
  const counts: number[] = []
  const incr = (key: string, windowMs = 60_000) =>
    store.incr(key, (_e, r) => counts.push(r?.current ?? -1), windowMs)
  incr('token:a')
  incr('token:a')
  incr('token:a', 0)
  assert.deepEqual(counts, [1, 2, 1])
  for (let i = 0; i <= RateWindowStore.addressCapacity; i++)
    incr(`address:10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)
  counts.length = 0
  incr('address:10.0.0.0')
  incr('token:a')
  assert.deepEqual(counts, [1, 2], 'the oldest address window went; the token window stayed')
})
