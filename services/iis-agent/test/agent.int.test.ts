import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Bus, callRpc } from '@krbfleet/bus'
import { AgentHeartbeat, TopologyOperation } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { exportPrivateKey, exportPublicKey, importPrivateKey } from '@krbfleet/sealing'
import { freePort, type NatsServer } from '@krbfleet/testing'
import { allStoredEvents, type NatsWorld, startNatsWorld } from '@krbfleet/testing/world'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'

const mainTs = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const admin = { actor: 'user:agent-test' }

/**
 * The agent as a real process (main.ts) against a real nats-server and the real topology service
 * (in this process): key file, enrolment, heartbeats, refusals, retry until the server is added,
 * SIGTERM. Every assertion is on the final state: the key file, the topology's enrolment record,
 * the events on the stream, the process's exit code and output.
 */
describe('iis-agent process', { timeout: 180_000 }, () => {
  let world: NatsWorld
  let nats: NatsServer
  let bus: Bus
  let topology: TopologyInstance
  let dir: string
  const children: ChildProcess[] = []
  const outputs: string[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-agent-'))
    world = await startNatsWorld({ name: 'agent-test' })
    ;({ nats, bus } = world)
    topology = await startTopology({ bus, logger: silentLogger(), catchUpIntervalMs: 0 })
    await callRpc(bus, 'topology', TopologyOperation.SiteAdd, { name: 'redmond' }, admin)
    await callRpc(
      bus,
      'topology',
      TopologyOperation.PoolAdd,
      { fqdn: 'pool01.corp.example.com', site: 'redmond' },
      admin,
    )
    await callRpc(
      bus,
      'topology',
      TopologyOperation.ServerAdd,
      { fqdn: 'fe01.corp.example.com', pool: 'pool01.corp.example.com', backend: 'iis' },
      admin,
    )
  })

  after(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await topology?.stop()
    await world?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  async function spawnAgent(env: Record<string, string>) {
    const httpPort = await freePort()
    const child = spawn(process.execPath, [mainTs], {
      env: {
        PATH: process.env.PATH ?? '',
        KRBFLEET_NATS_URL: nats.url,
        KRBFLEET_HTTP_PORT: String(httpPort),
        KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: '300',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    children.push(child)
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    const base = `http://127.0.0.1:${httpPort}`
    return {
      child,
      exited,
      base,
      output: () => output,
      async stop() {
        child.kill('SIGTERM')
        const [code] = await exited
        outputs.push(output)
        return code
      },
    }
  }

  async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (
        await Promise.resolve()
          .then(check)
          .catch(() => false)
      )
        return
      if (Date.now() > deadline) assert.fail(`not reached within ${timeoutMs} ms: ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  const readyz = async (base: string) => (await fetch(`${base}/readyz`)).status

  async function draft() {
    return await topology.service.get('draft')
  }

  async function enrolmentOf(server: string) {
    return (await draft()).topology.agents.find((a) => a.server === server)
  }

  const events = () => allStoredEvents(bus)

  const heartbeatsOf = async (server: string) =>
    (await events()).filter(
      (e) => e.type === AgentHeartbeat.type && (e.data as { server: string }).server === server,
    )

  const keyFile1 = () => join(dir, 'agents', 'fe01', 'agent-key.pem')
  /** What the operator does for a new agent: `krbfleet agent token SERVER`, into the agent's token file. */
  const giveToken = async (server: string, file: string) => {
    const { token } = await callRpc<{ token: string }>(
      bus,
      'topology',
      TopologyOperation.AgentToken,
      { server },
      admin,
    )
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    await writeFile(file, `${token}\n`, { mode: 0o600 })
  }

  it('given a first start, then a 0600 key file is created and the topology holds its public key', async () => {
    const tokenFile = join(dir, 'agents', 'fe01', 'enrol-token')
    await giveToken('fe01.corp.example.com', tokenFile)
    // The name as an operator might type it: the agent enrols under the canonical form.
    const agent = await spawnAgent({
      KRBFLEET_AGENT_SERVER: 'FE01.Corp.Example.com',
      KRBFLEET_AGENT_BACKEND: 'iis',
      KRBFLEET_AGENT_KEY_FILE: keyFile1(),
      KRBFLEET_AGENT_ENROL_TOKEN_FILE: tokenFile,
    })
    await eventually(async () => (await readyz(agent.base)) === 200, 'ready (NATS and enrolled)')
    assert.equal((await fetch(`${agent.base}/healthz`)).status, 200)

    const file = await stat(keyFile1())
    assert.equal(file.mode & 0o777, 0o600)
    assert.equal((await stat(dirname(keyFile1()))).mode & 0o777, 0o700)
    const privateKey = importPrivateKey(await readFile(keyFile1(), 'utf8'), 'x25519')
    const enrolled = await enrolmentOf('fe01.corp.example.com')
    assert.equal(enrolled?.encryptionKey, exportPublicKey(privateKey))
    await assert.rejects(stat(tokenFile), { code: 'ENOENT' }, 'the single-use token is gone once used')

    // Heartbeats on the event stream, one id per tick, from this agent.
    await eventually(async () => (await heartbeatsOf('fe01.corp.example.com')).length >= 2, 'two heartbeats')
    const beats = await heartbeatsOf('fe01.corp.example.com')
    assert.equal(new Set(beats.map((b) => b.id)).size, beats.length)
    for (const beat of beats) {
      // No KRBFLEET_AGENT_SIGNER_KEY here: no credential is received, so no backend health either.
      assert.deepEqual(beat.data, { server: 'fe01.corp.example.com', backend: 'iis', kvnos: [] })
      assert.equal(beat.actor, 'agent:fe01.corp.example.com')
      assert.match(beat.id, /^heartbeat-[A-Za-z0-9_-]{22}-[0-9]+-[A-Za-z0-9_-]{8}$/)
    }
    const metrics = await (await fetch(`${agent.base}/metrics`)).text()
    assert.match(metrics, /krbfleet_agent_enrolled\{[^}]*\} 1/)
    assert.match(metrics, /krbfleet_agent_enrol_attempts_total\{[^}]*outcome="enrolled"[^}]*\} 1/)
    assert.match(metrics, /krbfleet_agent_heartbeats_total\{[^}]*outcome="published"[^}]*\} [1-9]/)

    assert.equal(await agent.stop(), 0, agent.output().slice(-2000))
    assert.match(agent.output(), /generated a new agent key pair/)
  })

  it('given a restart, then the same key is used and the topology does not change', async () => {
    const keyBefore = await readFile(keyFile1(), 'utf8')
    const before = await draft()
    const enrolledBefore = await enrolmentOf('fe01.corp.example.com')
    const agent = await spawnAgent({
      KRBFLEET_AGENT_SERVER: 'fe01.corp.example.com',
      KRBFLEET_AGENT_BACKEND: 'iis',
      KRBFLEET_AGENT_KEY_FILE: keyFile1(),
    })
    await eventually(async () => (await readyz(agent.base)) === 200, 'ready')
    assert.equal(await readFile(keyFile1(), 'utf8'), keyBefore)
    const afterRestart = await draft()
    assert.equal(afterRestart.revision, before.revision, 'no write to the draft')
    assert.deepEqual(await enrolmentOf('fe01.corp.example.com'), enrolledBefore)
    assert.equal(await agent.stop(), 0)
    assert.match(agent.output(), /using the agent key pair from the key file/)
    assert.match(agent.output(), /the topology already had this key/)
  })

  it('given a new key for an enrolled server, then it is refused without a new token and the old key stays', async () => {
    const before = await enrolmentOf('fe01.corp.example.com')
    const agent = await spawnAgent({
      KRBFLEET_AGENT_SERVER: 'fe01.corp.example.com',
      KRBFLEET_AGENT_KEY_FILE: join(dir, 'agents', 'fe01-rekeyed', 'agent-key.pem'),
    })
    await eventually(() => /enrolment needs a token/.test(agent.output()), 'the new key refused')
    assert.equal(await readyz(agent.base), 503)
    assert.deepEqual(await enrolmentOf('fe01.corp.example.com'), before, 'the enrolled key is unchanged')
    assert.equal(await agent.stop(), 0)
  })

  it('given a key file readable by others, then start-up stops naming the setting and nothing changes', async () => {
    const open = join(dir, 'open', 'agent-key.pem')
    await rm(dirname(open), { recursive: true, force: true })
    await mkdir(dirname(open), { recursive: true })
    await copyFile(keyFile1(), open)
    await chmod(open, 0o644)
    const before = await draft()
    const agent = await spawnAgent({
      KRBFLEET_AGENT_SERVER: 'fe01.corp.example.com',
      KRBFLEET_AGENT_KEY_FILE: open,
    })
    const [code] = await agent.exited
    outputs.push(agent.output())
    assert.notEqual(code, 0)
    assert.match(
      agent.output(),
      /KRBFLEET_AGENT_KEY_FILE: .* has mode 644; the agent's private key must be readable by its owner only/,
    )
    assert.equal((await draft()).revision, before.revision)
  })

  it('given a bad server name, then start-up stops naming KRBFLEET_AGENT_SERVER', async () => {
    const agent = await spawnAgent({
      KRBFLEET_AGENT_SERVER: 'fe01',
      KRBFLEET_AGENT_KEY_FILE: join(dir, 'bad.pem'),
    })
    const [code] = await agent.exited
    outputs.push(agent.output())
    assert.notEqual(code, 0)
    assert.match(agent.output(), /KRBFLEET_AGENT_SERVER \(agent\.server\): 'fe01' is not fully qualified/)
    await assert.rejects(stat(join(dir, 'bad.pem')), /ENOENT/, 'no key file for a refused configuration')
  })

  it('given a server not in the topology, then the agent keeps retrying and enrols once it is added and its token given', async () => {
    const keyFile = join(dir, 'agents', 'fe02', 'agent-key.pem')
    const tokenFile = join(dir, 'agents', 'fe02', 'enrol-token')
    const agent = await spawnAgent({
      KRBFLEET_AGENT_SERVER: 'fe02.corp.example.com',
      KRBFLEET_AGENT_KEY_FILE: keyFile,
      KRBFLEET_AGENT_ENROL_TOKEN_FILE: tokenFile,
    })
    await eventually(
      () => (agent.output().match(/is not in the topology/g) ?? []).length >= 2,
      'two refused attempts, logged',
    )
    assert.equal(agent.child.exitCode, null, 'still running')
    assert.equal((await fetch(`${agent.base}/healthz`)).status, 200)
    assert.equal(await readyz(agent.base), 503, 'not ready before it is enrolled')
    assert.equal(await enrolmentOf('fe02.corp.example.com'), undefined)

    await callRpc(
      bus,
      'topology',
      TopologyOperation.ServerAdd,
      { fqdn: 'fe02.corp.example.com', pool: 'pool01.corp.example.com', backend: 'keytab' },
      admin,
    )
    await eventually(
      () => /enrolment needs a token/.test(agent.output()),
      'a new key without a token, refused',
    )
    assert.equal(await enrolmentOf('fe02.corp.example.com'), undefined)
    await giveToken('fe02.corp.example.com', tokenFile)
    await eventually(async () => (await readyz(agent.base)) === 200, 'ready once enrolled')
    const privateKey = importPrivateKey(await readFile(keyFile, 'utf8'), 'x25519')
    assert.equal((await enrolmentOf('fe02.corp.example.com'))?.encryptionKey, exportPublicKey(privateKey))
    await eventually(async () => (await heartbeatsOf('fe02.corp.example.com')).length >= 1, 'a heartbeat')
    assert.equal(await agent.stop(), 0)
  })

  it('given SIGTERM while it still waits for its server to be added, then it exits 0', async () => {
    const agent = await spawnAgent({
      KRBFLEET_AGENT_SERVER: 'fe09.corp.example.com',
      KRBFLEET_AGENT_KEY_FILE: join(dir, 'agents', 'fe09', 'agent-key.pem'),
    })
    await eventually(() => /is not in the topology/.test(agent.output()), 'a refused attempt, logged')
    assert.equal(await agent.stop(), 0, agent.output().slice(-2000))
    assert.match(agent.output(), /"clean":true/)
  })

  it('never lets a private key reach a log line or an event', async () => {
    const secrets: string[] = []
    for (const host of ['fe01', 'fe02', 'fe09']) {
      const file = join(dir, 'agents', host, 'agent-key.pem')
      const pem = await readFile(file, 'utf8')
      secrets.push(exportPrivateKey(importPrivateKey(pem, 'x25519')))
      secrets.push(pem.split('\n')[1] as string)
    }
    const stored = JSON.stringify(await events())
    const logs = outputs.join('\n')
    assert.ok(logs.length > 0 && outputs.length >= 6)
    for (const secret of secrets) {
      assert.ok(secret.length >= 40)
      assert.equal(logs.includes(secret), false, 'a private key in the logs')
      assert.equal(stored.includes(secret), false, 'a private key in the events')
    }
  })
})
