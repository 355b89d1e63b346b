import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import Fastify from 'fastify'
import { pino } from 'pino'
import { Counter } from 'prom-client'
import { buildHealthApp, createMetricsRegistry, healthRoutes, startHealthServer } from '../src/index.ts'

describe('health app', () => {
  test('/healthz answers while /readyz follows its checks', async () => {
    let natsUp = false
    const registry = createMetricsRegistry({ service: 'test' })
    const app = buildHealthApp({
      name: 'test',
      registry,
      checks: {
        nats: () => natsUp,
        ldap: async () => true,
        broken: () => {
          throw new Error('check crashed')
        },
      },
    })
    const health = await app.inject({ method: 'GET', url: '/healthz' })
    assert.equal(health.statusCode, 200)
    assert.deepEqual(health.json(), { status: 'ok', service: 'test' })

    const notReady = await app.inject({ method: 'GET', url: '/readyz' })
    assert.equal(notReady.statusCode, 503)
    assert.deepEqual(notReady.json().failed, ['nats', 'broken'])

    natsUp = true
    const ready = buildHealthApp({ name: 'test', registry, checks: { nats: () => natsUp } })
    const ok = await ready.inject({ method: 'GET', url: '/readyz' })
    assert.equal(ok.statusCode, 200)
    assert.deepEqual(ok.json(), { status: 'ready', service: 'test', checks: { nats: true } })
    natsUp = false
    assert.equal((await ready.inject({ method: 'GET', url: '/readyz' })).statusCode, 503)
    await app.close()
    await ready.close()
  })

  test('a check that hangs counts as failed', async () => {
    const app = buildHealthApp({
      name: 'test',
      registry: createMetricsRegistry(),
      checkTimeoutMs: 20,
      checks: { slow: () => new Promise<boolean>(() => {}) },
    })
    const res = await app.inject({ method: 'GET', url: '/readyz' })
    assert.equal(res.statusCode, 503)
    assert.deepEqual(res.json().failed, ['slow'])
    await app.close()
  })

  test('/metrics serves default and service metrics in Prometheus format', async () => {
    const registry = createMetricsRegistry({ service: 'test' })
    const rotations = new Counter({
      name: 'krbfleet_test_total',
      help: 'test counter',
      registers: [registry],
    })
    rotations.inc(3)
    const app = buildHealthApp({ name: 'test', registry, checks: {} })
    const res = await app.inject({ method: 'GET', url: '/metrics' })
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /text\/plain/)
    assert.match(res.body, /krbfleet_test_total\{service="test"\} 3/)
    assert.match(res.body, /process_cpu_user_seconds_total/)
    await app.close()
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
