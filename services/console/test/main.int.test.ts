import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { Bus } from '@krbfleet/bus'
import { silentLogger } from '@krbfleet/logging'
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
import { startTopology, type TopologyInstance } from '@krbfleet/topology'
import { ChangeRecorded } from '@krbfleet/contracts'
import { hashToken } from '../src/index.ts'
import { lastSeq, storedEvents } from './helpers.ts'

/**
 * services/console/src/main.ts as a real process against a real nats-server (settings, signals
 * and shutdown meet only in a process): a bad setting stops start-up naming the variable,
 * /healthz, /readyz (503 while NATS is down), /metrics, the API through to a topology service,
 * and SIGTERM exits 0.
 */

const mainTs = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const adminToken = 'main-test-admin-token'
const viewerToken = 'main-test-viewer-token'

after(killMains)

const startMain = (env: Record<string, string>) => spawnMain(mainTs, env)

const status = async (url: string) => (await fetch(url)).status

let dir: string
let tokensFile: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'krbfleet-console-main-'))
  tokensFile = join(dir, 'tokens.json')
  const records = [
    { name: 'ops', role: 'admin', sha256: hashToken(adminToken) },
    { name: 'watcher', role: 'viewer', sha256: hashToken(viewerToken) },
  ]
  await writeFile(tokensFile, JSON.stringify(records), { mode: 0o600 })
})
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('console main.ts: settings', () => {
  const cases: [string, () => Record<string, string>, RegExp][] = [
    ['no tokens file', () => ({}), /KRBFLEET_CONSOLE_TOKENS_FILE \(console.tokensFile\): is required/],
    [
      'a port out of range',
      () => ({ KRBFLEET_CONSOLE_TOKENS_FILE: tokensFile, KRBFLEET_HTTP_PORT: '70000' }),
      /KRBFLEET_HTTP_PORT/,
    ],
    [
      'an unknown metrics access',
      () => ({ KRBFLEET_CONSOLE_TOKENS_FILE: tokensFile, KRBFLEET_CONSOLE_METRICS: 'public' }),
      /KRBFLEET_CONSOLE_METRICS/,
    ],
    [
      'a rate limit of 0',
      () => ({ KRBFLEET_CONSOLE_TOKENS_FILE: tokensFile, KRBFLEET_CONSOLE_RATE_LIMIT_MAX: '0' }),
      /KRBFLEET_CONSOLE_RATE_LIMIT_MAX/,
    ],
    [
      'the retired NATS password name',
      () => ({ KRBFLEET_CONSOLE_TOKENS_FILE: tokensFile, KRBFLEET_NATS_PASS: 'x' }),
      /KRBFLEET_NATS_PASS: no longer read: use KRBFLEET_NATS_PASSWORD/,
    ],
  ]
  for (const [what, env, named] of cases) {
    test(`${what} stops start-up naming the variable`, async () => {
      const started = startMain(env())
      const [code] = await started.exited
      assert.equal(code, 1, started.output())
      assert.match(started.output(), /console cannot start: invalid configuration/)
      assert.match(started.output(), named)
      assert.doesNotMatch(started.output(), /console listening/)
    })
  }
  test('a tokens file that cannot be read stops start-up naming the setting and the file', async () => {
    const missing = join(dir, 'nope.json')
    const started = startMain({
      KRBFLEET_CONSOLE_TOKENS_FILE: missing,
      KRBFLEET_NATS_URL: 'nats://127.0.0.1:1',
    })
    const [code] = await started.exited
    assert.equal(code, 1, started.output())
    assert.ok(
      started
        .output()
        .includes(`KRBFLEET_CONSOLE_TOKENS_FILE (console.tokensFile): tokens file ${missing} cannot be read`),
      started.output(),
    )
  })
})

describe('console main.ts against a real nats-server', { timeout: 120_000 }, () => {
  let world: NatsWorld
  let nats: NatsServer
  let bus: Bus
  let topology: TopologyInstance
  before(async () => {
    world = await startNatsWorld({ name: 'console-main-test' })
    ;({ nats, bus } = world)
    topology = await startTopology({ bus, logger: silentLogger() })
  })
  after(async () => {
    killMains()
    await topology?.stop()
    // Not drained: after a failure the server may be the one this test killed.
    await bus?.nc.close()
    await world?.stop()
  })

  test('health, readiness (503 while NATS is down), metrics, the API, then SIGTERM exits 0', async (t) => {
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const started = startMain({
      KRBFLEET_NATS_URL: nats.url,
      KRBFLEET_HTTP_PORT: String(port),
      KRBFLEET_CONSOLE_TOKENS_FILE: tokensFile,
    })

    await until('/readyz 200', async () => (await status(`${base}/readyz`)) === 200, started)
    assert.equal(await status(`${base}/healthz`), 200)
    assert.deepEqual(await (await fetch(`${base}/readyz`)).json(), {
      status: 'ready',
      checks: { nats: true },
    })

    // The API, through NATS to the topology service: authenticated, and strict about bodies.
    const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }
    assert.equal(await status(`${base}/v1/sites`), 401)
    const added = await fetch(`${base}/v1/sites`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'Redmond' }),
    })
    assert.equal(added.status, 201, await added.text())
    const stringDryRun = await fetch(`${base}/v1/sites/Redmond`, {
      method: 'DELETE',
      headers,
      body: JSON.stringify({ dryRun: 'true' }),
    })
    assert.equal(stringDryRun.status, 400)
    const refusal = (await stringDryRun.json()) as { error: { field?: string } }
    assert.equal(refusal.error.field, 'dryRun')
    const sites = await fetch(`${base}/v1/sites`, { headers })
    assert.deepEqual(
      ((await sites.json()) as { sites: { name: string }[] }).sites.map((s) => s.name),
      ['Redmond'],
    )

    // KRBFLEET_CONSOLE_METRICS=token by default: /metrics takes any valid token.
    assert.equal(await status(`${base}/metrics`), 401)
    const metrics = await fetch(`${base}/metrics`, { headers })
    assert.equal(metrics.status, 200)
    const text = await metrics.text()
    assert.match(text, /process_cpu_seconds_total/)
    assert.match(
      text,
      /krbfleet_console_http_requests_total\{[^}]*route="\/v1\/sites"[^}]*status="201"[^}]*\} 1/,
    )

    await assertReadinessFollowsNats(nats, base, started)
    t.diagnostic(`SIGTERM to exit: ${await assertStopsOnSigterm(started)} ms`)
    assert.match(started.output(), /console listening/)
  })

  test('metrics open on their own port; rate limit and audit budget from their settings; SIGTERM sums up', async (t) => {
    const port = await freePort()
    const metricsPort = await freePort()
    const base = `http://127.0.0.1:${port}`
    const from = await lastSeq(bus)
    const started = startMain({
      KRBFLEET_NATS_URL: nats.url,
      KRBFLEET_HTTP_PORT: String(port),
      KRBFLEET_CONSOLE_TOKENS_FILE: tokensFile,
      KRBFLEET_CONSOLE_METRICS: 'open',
      KRBFLEET_CONSOLE_METRICS_PORT: String(metricsPort),
      KRBFLEET_CONSOLE_RATE_LIMIT_MAX: '6',
      KRBFLEET_CONSOLE_AUDIT_REFUSALS_PER_MINUTE: '2',
    })
    await until('/readyz 200', async () => (await status(`${base}/readyz`)) === 200, started)

    const admin = { authorization: `Bearer ${adminToken}` }
    assert.equal((await fetch(`${base}/metrics`, { headers: admin })).status, 404)
    const open = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    assert.equal(open.status, 200)
    assert.match(
      await open.text(),
      /krbfleet_console_http_requests_total\{[^}]*route="\/metrics"[^}]*status="404"/,
    )
    assert.equal(await status(`http://127.0.0.1:${metricsPort}/readyz`), 200)

    const viewer = { authorization: `Bearer ${viewerToken}`, 'content-type': 'application/json' }
    const answers = []
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`${base}/v1/sites`, { method: 'POST', headers: viewer, body: '{"name":"Nope"}' })
      answers.push([r.status, r.headers.get('retry-after') !== null])
    }
    assert.deepEqual(answers, [...Array(6).fill([403, false]), [429, true], [429, true]])

    t.diagnostic(`SIGTERM to exit: ${await assertStopsOnSigterm(started)} ms`)
    const audits = (await storedEvents(bus, from + 1)).filter(
      (e) => e.type === ChangeRecorded.type && e.actor === 'token:watcher',
    )
    const data = audits.map((e) => e.data as { action: string; detail?: string })
    assert.deepEqual(
      data.map((d) => d.action),
      ['site.add', 'site.add', 'audit.refusals-summary'],
      'the budget of 2, then the summary published at shutdown, before NATS drained',
    )
    assert.match(
      data[2]?.detail ?? '',
      /^6 refused requests of token:watcher .*: 4 over the budget of 2, 2 answered 429/,
    )
  })
})
