import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const node = fileURLToPath(new URL('../../../node_modules/.bin/node', import.meta.url))
const fixture = fileURLToPath(new URL('./fixtures/service-main.ts', import.meta.url))
const waitingForNats = fileURLToPath(new URL('./fixtures/service-waiting-for-nats.ts', import.meta.url))

type LogRecord = Record<string, unknown> & { msg: string; level: number }

/** Runs the fixture service; `records` collects its JSON stdout, `waitFor` resolves on a matching record. */
function startFixture(env: Record<string, string> = {}, main = fixture) {
  const child: ChildProcess = spawn(node, [main], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const records: LogRecord[] = []
  const waiters: Array<{ match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }> = []
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr += String(d)
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const record = JSON.parse(line) as LogRecord
    records.push(record)
    for (const w of [...waiters]) if (w.match(record)) w.resolve(record)
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return {
    child,
    records,
    exited,
    stderr: () => stderr,
    waitFor(match: (r: LogRecord) => boolean): Promise<LogRecord> {
      const found = records.find(match)
      if (found) return Promise.resolve(found)
      return new Promise((resolve) => waiters.push({ match, resolve }))
    },
  }
}

describe('runService', () => {
  test('SIGTERM stops consumers -> NATS -> HTTP -> LDAP, logs it, and exits 0', async () => {
    const service = startFixture()
    const ready = await service.waitFor((r) => r.msg === 'fixture ready')
    const res = await fetch(`${ready.url}/healthz`)
    assert.equal(res.status, 200)
    await service.waitFor((r) => r.msg === 'started')
    service.child.kill('SIGTERM')
    const [code] = await service.exited
    assert.equal(code, 0, service.stderr())
    const order = service.records
      .map((r) => r.msg)
      .filter((m) => /^(shutting down|stopping|stopped)/.test(m) || m.endsWith(' stopped'))
    assert.deepEqual(order, [
      'shutting down',
      'stopping consumers',
      'consumer stopped',
      'stopped consumers',
      'stopping nats',
      'nats stopped',
      'stopped nats',
      'stopping http',
      'stopped http',
      'stopping ldap',
      'ldap stopped',
      'stopped ldap',
      'stopped',
    ])
    await assert.rejects(fetch(`${ready.url}/healthz`), 'the HTTP server is closed')
  })

  test('a bad configuration value stops start-up naming the setting, exit 1', async () => {
    const service = startFixture({ KRBFLEET_HTTP_PORT: 'eighty' })
    const [code] = await service.exited
    assert.equal(code, 1)
    const fatal = service.records.find((r) => r.level === 60)
    assert.ok(fatal, 'a fatal record was logged')
    assert.match(
      fatal.msg,
      /fixture cannot start: invalid configuration: KRBFLEET_HTTP_PORT: must be a integer/,
    )
  })

  test('a shutdown that overruns its deadline exits 1', async () => {
    const service = startFixture({
      KRBFLEET_FIXTURE_SLOW_STOP_MS: '60000',
      KRBFLEET_FIXTURE_SHUTDOWN_TIMEOUT_MS: '1000',
    })
    await service.waitFor((r) => r.msg === 'started')
    service.child.kill('SIGTERM')
    const [code] = await service.exited
    assert.equal(code, 1)
    assert.ok(service.records.some((r) => /shutdown did not finish within 1000 ms/.test(r.msg)))
  })

  test('SIGTERM while start-up waits for a NATS server that is down exits 0 at once, saying so', async () => {
    // Nothing listens on port 1; connectBusFromSettings keeps trying (waitOnFirstConnect) until aborted.
    const service = startFixture({ KRBFLEET_NATS_URL: 'nats://127.0.0.1:1' }, waitingForNats)
    await service.waitFor((r) => r.msg === 'connecting to NATS')
    service.child.kill('SIGTERM')
    const [code] = await service.exited
    // Exit 0 and no error record (below) rule out the deadline path, which logs an error and exits 1;
    // no wall-clock bound, which a starved CI machine could overrun.
    assert.equal(code, 0, service.stderr())
    const stopped = service.records.find((r) => r.msg.startsWith('start-up stopped'))
    assert.ok(stopped, 'start-up says why it stopped')
    assert.match(
      stopped.msg,
      /start-up stopped: connecting to NATS at nats:\/\/127\.0\.0\.1:1 was abandoned: fixture is shutting down \(SIGTERM\)/,
    )
    assert.ok(!service.records.some((r) => r.level >= 50), 'no error or fatal record')
    assert.equal(service.records.at(-1)?.msg, 'stopped')
  })
})
