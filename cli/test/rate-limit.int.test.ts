import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type Bus, callRpc, connectBus } from '@krbfleet/bus'
import { buildApp, type ConsoleApp, hashToken } from '@krbfleet/console'
import { silentLogger } from '@krbfleet/logging'
import { freePort, type NatsServer, startNats } from '@krbfleet/testing'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'

/** The krbfleet bin against a console whose rate limit is 2 requests a minute: the 429 in words. */

const bin = resolve(import.meta.dirname, '../bin/krbfleet')
const token = 'cli-rate-viewer-token'

function krbfleet(url: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const env = { PATH: process.env.PATH ?? '', KRBFLEET_URL: url, KRBFLEET_TOKEN: token }
    execFile(bin, args, { env }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

describe('the krbfleet bin when the console limits its token', () => {
  let nats: NatsServer
  let bus: Bus
  let topology: TopologyInstance
  let app: ConsoleApp
  let url: string
  before(async () => {
    nats = await startNats()
    bus = await connectBus({ servers: nats.url, name: 'cli-rate-test', logger: silentLogger() })
    topology = await startTopology({ bus, logger: silentLogger() })
    app = await buildApp(
      {
        logger: silentLogger(),
        tokens: [{ name: 'watcher', role: 'viewer', sha256: hashToken(token) }],
        rpc: (service, operation, body, options) => callRpc(bus, service, operation, body, options),
        publish: (e) => bus.publish(e),
      },
      { rateLimit: { max: 2, anonymousMax: 2, windowSeconds: 60 } },
    )
    const port = await freePort()
    await app.listen({ host: '127.0.0.1', port })
    url = `http://127.0.0.1:${port}`
  })
  after(async () => {
    await app?.close()
    await topology?.stop()
    await bus?.close()
    await nats?.stop()
  })

  test('a 429 says who is limited, that nothing changed, and how long to wait; --json has the wait', async () => {
    assert.equal((await krbfleet(url, ['site', 'list'])).code, 0)
    assert.equal((await krbfleet(url, ['site', 'list'])).code, 0)
    const limited = await krbfleet(url, ['site', 'list'])
    assert.equal(limited.code, 1, limited.stderr)
    assert.match(
      limited.stderr,
      /^krbfleet: rate_limited: too many requests: token 'watcher' may send 2 in 60 s; nothing was changed: wait ([1-9]|[1-5][0-9]|60) s and run the command again\n$/,
    )
    const json = await krbfleet(url, ['site', 'list', '--json'])
    assert.equal(json.code, 1)
    const error = JSON.parse(json.stdout).error
    assert.equal(error.status, 429)
    assert.equal(error.code, 'rate_limited')
    assert.ok(error.retryAfterSeconds >= 1 && error.retryAfterSeconds <= 60, String(error.retryAfterSeconds))
    assert.ok(!json.stdout.includes(token) && !json.stderr.includes(token))
  })
})
