import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { resolve } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type Bus, callRpc } from '@krbfleet/bus'
import { streams, TopologyEnabled } from '@krbfleet/contracts'
import { buildApp, type ConsoleApp, hashToken } from '@krbfleet/console'
import { silentLogger } from '@krbfleet/logging'
import { freePort } from '@krbfleet/testing'
import { startNatsWorld, type NatsWorld } from '@krbfleet/testing/world'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'

/**
 * `krbfleet topology enable` when the answer is lost on the way (the console or NATS went away
 * after the request left): the CLI retries once and says whether the first attempt had published
 * the revision. The loss is real: a TCP relay between the CLI and a real console that cuts the
 * first connection either before forwarding the request or after the console has answered.
 */

const bin = resolve(import.meta.dirname, '../bin/krbfleet')
const token = 'enable-retry-admin'

type Fate = 'cut-before-request' | 'cut-after-answer'

/** Relays TCP to `target`; the next connections meet the fates queued, later ones pass. */
async function lossyRelay(target: number): Promise<{ port: number; fates: Fate[]; server: Server }> {
  const fates: Fate[] = []
  const server = createServer((client: Socket) => {
    const fate = fates.shift()
    if (fate === 'cut-before-request') {
      client.once('data', () => client.destroy())
      return
    }
    const upstream = connect(target, '127.0.0.1')
    client.on('data', (chunk) => upstream.write(chunk))
    upstream.on('data', (chunk) => {
      if (fate === 'cut-after-answer') {
        client.destroy()
        upstream.destroy()
      } else client.write(chunk)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  const port = await freePort()
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done))
  return { port, fates, server }
}

describe('topology enable retries once on a lost answer and says which it was', () => {
  let world: NatsWorld
  let bus: Bus
  let topology: TopologyInstance
  let app: ConsoleApp
  let relay: Awaited<ReturnType<typeof lossyRelay>>

  const krbfleet = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      const env = {
        PATH: process.env.PATH ?? '',
        KRBFLEET_URL: `http://127.0.0.1:${relay.port}`,
        KRBFLEET_TOKEN: token,
      }
      execFile(bin, args, { env }, (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      )
    })
  const enabledEvents = async () => {
    const info = await bus.jsm.streams.info(streams.events.name, { subjects_filter: TopologyEnabled.subject })
    return info.state.subjects?.[TopologyEnabled.subject] ?? 0
  }

  before(async () => {
    world = await startNatsWorld({ name: 'enable-retry-test' })
    bus = world.bus
    topology = await startTopology({ bus, logger: silentLogger() })
    app = await buildApp({
      logger: silentLogger(),
      tokens: [{ name: 'admin', role: 'admin', sha256: hashToken(token) }],
      rpc: (service, operation, body, options) => callRpc(bus, service, operation, body, options),
      publish: (e) => bus.publish(e),
    })
    const consolePort = await freePort()
    await app.listen({ host: '127.0.0.1', port: consolePort })
    relay = await lossyRelay(consolePort)
  })
  after(async () => {
    relay?.server.close()
    await app?.close()
    await topology?.stop()
    await world?.stop()
  })

  test('the answer lost after the console published: the retry publishes nothing new and says so', async () => {
    assert.equal((await krbfleet(['site', 'add', 'Tromso'])).code, 0)
    relay.fates.push('cut-after-answer')
    const result = await krbfleet(['topology', 'enable'])
    assert.equal(result.code, 0, result.stdout + result.stderr)
    assert.match(
      result.stdout,
      /^the answer was lost \(cannot reach the console .*\); the retry found the draft already enabled: it was published once$/m,
    )
    assert.match(result.stdout, /^nothing to enable: the draft is already enabled as revision 1$/m)
    assert.equal((await topology.store.readEnabledNumber()).enabled, 1)
    assert.equal(await enabledEvents(), 1, 'one TopologyEnabled event')
  })

  test('the request lost before the console saw it: the retry publishes the revision and says so', async () => {
    assert.equal((await krbfleet(['site', 'add', 'Bodo'])).code, 0)
    relay.fates.push('cut-before-request')
    const result = await krbfleet(['topology', 'enable', '--json'])
    assert.equal(result.code, 0, result.stdout + result.stderr)
    const outcome = JSON.parse(result.stdout) as { enabledRevision: number; retried?: { after: string } }
    assert.equal(outcome.enabledRevision, 2)
    assert.match(outcome.retried?.after ?? '', /cannot reach the console/)
    const human = await krbfleet(['topology', 'enable'])
    assert.match(human.stdout, /^nothing to enable: the draft is already enabled as revision 2$/m)
    assert.equal(await enabledEvents(), 2, 'one TopologyEnabled event per revision')
  })
})
