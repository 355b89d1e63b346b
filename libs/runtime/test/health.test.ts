import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import Fastify from 'fastify'
import { pino } from 'pino'
import { Counter } from 'prom-client'
import { createMetricsRegistry, healthRoutes, startHealthServer } from '../src/index.ts'

/** A health server on a free loopback port; closed by the caller. */
const serve = (options: Omit<Parameters<typeof startHealthServer>[0], 'name' | 'host' | 'port' | 'logger'>) =>
  startHealthServer({
    name: 'test',
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level: 'silent' }),
    ...options,
  })

describe('health server', () => {
  test('/healthz answers while /readyz follows its checks', async () => {
    let natsUp = false
    const registry = createMetricsRegistry({ service: 'test' })
    const server = await serve({
      registry,
      checks: {
        nats: () => natsUp,
        ldap: async () => true,
        broken: () => {
          throw new Error('check crashed')
        },
      },
    })
    const health = await fetch(`${server.url}/healthz`)
    assert.equal(health.status, 200)
    assert.deepEqual(await health.json(), { status: 'ok', service: 'test' })

    const notReady = await fetch(`${server.url}/readyz`)
    assert.equal(notReady.status, 503)
    assert.deepEqual(((await notReady.json()) as { failed: string[] }).failed, ['nats', 'broken'])

    natsUp = true
    const ready = await serve({ registry, checks: { nats: () => natsUp } })
    const ok = await fetch(`${ready.url}/readyz`)
    assert.equal(ok.status, 200)
    assert.deepEqual(await ok.json(), { status: 'ready', service: 'test', checks: { nats: true } })
    natsUp = false
    assert.equal((await fetch(`${ready.url}/readyz`)).status, 503)
    await server.close()
    await ready.close()
  })

  test('a check that hangs counts as failed', async () => {
    const server = await serve({
      registry: createMetricsRegistry(),
      checkTimeoutMs: 20,
      checks: { slow: () => new Promise<boolean>(() => {}) },
    })
    const res = await fetch(`${server.url}/readyz`)
    assert.equal(res.status, 503)
    assert.deepEqual(((await res.json()) as { failed: string[] }).failed, ['slow'])
    await server.close()
  })

  test('/metrics serves default and service metrics in Prometheus format', async () => {
    const registry = createMetricsRegistry({ service: 'test' })
    const rotations = new Counter({
      name: 'krbfleet_test_total',
      help: 'test counter',
      registers: [registry],
    })
    rotations.inc(3)
    const server = await serve({ registry, checks: {} })
    const res = await fetch(`${server.url}/metrics`)
    assert.equal(res.status, 200)
    assert.match(String(res.headers.get('content-type')), /text\/plain/)
    const body = await res.text()
    assert.match(body, /krbfleet_test_total\{service="test"\} 3/)
    assert.match(body, /process_cpu_user_seconds_total/)
    await server.close()
  })

  test('another path is 404 naming the probe paths, another method 405; HEAD has no body', async () => {
    const server = await serve({ registry: createMetricsRegistry(), checks: {} })
    const missing = await fetch(`${server.url}/admin`)
    assert.equal(missing.status, 404)
    assert.deepEqual(await missing.json(), {
      status: 'not found',
      path: '/admin',
      paths: ['/healthz', '/readyz', '/metrics'],
    })
    const post = await fetch(`${server.url}/healthz`, { method: 'POST', body: '{}' })
    assert.equal(post.status, 405)
    assert.equal(post.headers.get('allow'), 'GET, HEAD')
    const head = await fetch(`${server.url}/healthz`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(await head.text(), '')
    await server.close()
  })

  test('healthRoutes on an app of its own answer without a service name when given none', async () => {
    let up = true
    const app = Fastify()
    await app.register(healthRoutes, { registry: createMetricsRegistry(), checks: { nats: () => up } })
    assert.deepEqual((await app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' })
    assert.deepEqual((await app.inject({ method: 'GET', url: '/readyz' })).json(), {
      status: 'ready',
      checks: { nats: true },
    })
    up = false
    const notReady = await app.inject({ method: 'GET', url: '/readyz' })
    assert.equal(notReady.statusCode, 503)
    assert.deepEqual(notReady.json(), { status: 'not ready', failed: ['nats'], checks: { nats: false } })
    assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200)
    await app.close()
  })

  test('startHealthServer listens on a free port and closes', async () => {
    const server = await startHealthServer({
      name: 'test',
      host: '127.0.0.1',
      port: 0,
      logger: pino({ level: 'silent' }),
      checks: { always: () => true },
    })
    const res = await fetch(`${server.url}/readyz`)
    assert.equal(res.status, 200)
    await server.close()
    await assert.rejects(fetch(`${server.url}/healthz`))
  })
})
