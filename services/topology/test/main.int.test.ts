import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Bus, callRpc } from '@krbfleet/bus'
import { ServiceName, TopologyOperation as Op } from '@krbfleet/contracts'
import {
  assertReadinessFollowsNats,
  assertStopsOnSigterm,
  freePort,
  killMains,
  type NatsServer,
  spawnMain,
  until,
} from '@krbfleet/testing'
import { startNatsWorld, type NatsWorld } from '@krbfleet/testing/world'

/**
 * services/topology/src/main.ts as a real process against a real nats-server (like every
 * service's main.ts): a bad setting stops start-up naming the variable, /healthz, /readyz
 * (503 while NATS is down), /metrics, the RPC operations, and SIGTERM exits 0.
 */

const mainTs = fileURLToPath(new URL('../src/main.ts', import.meta.url))

const startMain = (env: Record<string, string>) => spawnMain(mainTs, env)

const status = async (url: string) => (await fetch(url)).status

after(killMains)

describe('topology main.ts: settings', () => {
  for (const [env, named] of [
    [{ KRBFLEET_HTTP_PORT: 'notaport' }, /KRBFLEET_HTTP_PORT: must be a integer/],
    [{ KRBFLEET_AUTO_ENABLE: 'perhaps' }, /KRBFLEET_AUTO_ENABLE: must be true or false/],
    [{ KRBFLEET_NATS_URL: '' }, /KRBFLEET_NATS_URL/],
    [{ KRBFLEET_HEALTH_PORT: '9101' }, /KRBFLEET_HEALTH_PORT: no longer read: use KRBFLEET_HTTP_PORT/],
  ] as const) {
    test(`${JSON.stringify(env)} stops start-up naming the variable`, async () => {
      const started = startMain({ ...env })
      const [code] = await started.exited
      assert.equal(code, 1, started.output())
      assert.match(started.output(), /topology cannot start: invalid configuration/)
      assert.match(started.output(), named)
    })
  }
})

describe('topology main.ts against a real nats-server', { timeout: 120_000 }, () => {
  let world: NatsWorld
  let nats: NatsServer
  let bus: Bus
  before(async () => {
    world = await startNatsWorld({ name: 'topology-main-test' })
    ;({ nats, bus } = world)
  })
  after(async () => {
    killMains()
    // Not drained: after a failure the server may be the one this test killed.
    await bus?.nc.close()
    await world?.stop()
  })

  test('health, readiness (503 while NATS is down), metrics, RPC, then SIGTERM exits 0', async (t) => {
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const started = startMain({ KRBFLEET_NATS_URL: nats.url, KRBFLEET_HTTP_PORT: String(port) })

    await until('/readyz 200', async () => (await status(`${base}/readyz`)) === 200, started)
    assert.equal(await status(`${base}/healthz`), 200)
    const ready = (await (await fetch(`${base}/readyz`)).json()) as { checks: Record<string, boolean> }
    assert.equal(ready.checks.nats, true, JSON.stringify(ready))

    // It serves its operations: a site added over the bus is in the draft.
    const actor = { actor: 'user:main-test' }
    await callRpc(bus, ServiceName.Topology, Op.SiteAdd, { name: 'Redmond' }, actor)
    const sites = await callRpc<{ sites: { name: string }[] }>(
      bus,
      ServiceName.Topology,
      Op.SiteList,
      {},
      actor,
    )
    assert.deepEqual(
      sites.sites.map((s) => s.name),
      ['Redmond'],
    )

    const metrics = await fetch(`${base}/metrics`)
    assert.equal(metrics.status, 200)
    const text = await metrics.text()
    assert.match(text, /process_cpu_seconds_total/)
    // The agent-status projection's lag on the events stream.
    assert.match(text, /krbfleet_consumer_pending\{[^}]*durable="topology-agent-status"[^}]*\} \d+/)

    await assertReadinessFollowsNats(nats, base, started)
    t.diagnostic(`SIGTERM to exit: ${await assertStopsOnSigterm(started)} ms`)
    assert.match(started.output(), /topology service ready/)
  })
})
