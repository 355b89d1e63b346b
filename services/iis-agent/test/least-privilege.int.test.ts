import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Bus, callRpc, connectBus } from '@krbfleet/bus'
import { AgentHeartbeat, buckets, type EventEnvelope, streams, TopologyOperation } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { freePort, type ManagedProcess, startProcess, waitForPort } from '@krbfleet/testing'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'
import { agentUser, type NatsUser, renderUsers, serviceUsers } from '../../../deploy/nats/src/permissions.ts'

const mainTs = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const server = 'fe01.corp.example.com'
const admin = { actor: 'user:agent-test' }

/**
 * The agent under its production NATS identity (deploy/nats agentUser: publish agent events, call
 * topology, read its own inbox and credential subject, nothing else), with the topology service under
 * its own: the agent must enrol and publish heartbeats with exactly these rights (no stream creation).
 */
let dir: string
let nats: ManagedProcess
let url: string
let setupBus: Bus
let topologyBus: Bus
let topology: TopologyInstance
const agent = agentUser(server)
const passwordOf = (user: NatsUser) => `${user.user}-pw`
let child: ChildProcess | undefined

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'krbfleet-agent-lp-'))
  const topologyUser = serviceUsers().find((u) => u.user === 'krbfleet-topology')
  assert.ok(topologyUser)
  const port = await freePort()
  await writeFile(
    join(dir, 'server.conf'),
    [
      `listen: "127.0.0.1:${port}"`,
      `jetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }`,
      'authorization {',
      '  users: [',
      // The test's own set-up identity (streams, topology content); no permissions block = all.
      '    { user: "setup", password: "setup-pw" }',
      renderUsers([topologyUser, agent], '    '),
      '  ]',
      '}',
      '',
    ].join('\n'),
  )
  const env: Record<string, string> = { ...(process.env as Record<string, string>) }
  for (const user of [topologyUser, agent]) env[user.passwordVariable.slice(1)] = passwordOf(user)
  nats = startProcess({
    name: 'nats-agent-lp',
    command: 'nats-server',
    args: ['-c', join(dir, 'server.conf')],
    logFile: join(dir, 'nats.log'),
    env,
  })
  await waitForPort('127.0.0.1', port, 10_000, 'nats-server')
  url = `nats://127.0.0.1:${port}`
  // What deploy/nats bootstrap.ts does before any service starts: streams and buckets.
  setupBus = await connectBus({
    servers: url,
    name: 'setup',
    logger: silentLogger(),
    user: 'setup',
    pass: 'setup-pw',
  })
  await setupBus.ensureStreams()
  for (const def of Object.values(buckets)) await setupBus.kv(def)
  topologyBus = await connectBus({
    servers: url,
    name: topologyUser.user,
    logger: silentLogger(),
    user: topologyUser.user,
    pass: passwordOf(topologyUser),
    inboxPrefix: topologyUser.inboxPrefix,
  })
  topology = await startTopology({ bus: topologyBus, logger: silentLogger(), catchUpIntervalMs: 0 })
  await callRpc(setupBus, 'topology', TopologyOperation.SiteAdd, { name: 'redmond' }, admin)
  await callRpc(
    setupBus,
    'topology',
    TopologyOperation.PoolAdd,
    { fqdn: 'pool01.corp.example.com', site: 'redmond' },
    admin,
  )
  await callRpc(
    setupBus,
    'topology',
    TopologyOperation.ServerAdd,
    { fqdn: server, pool: 'pool01.corp.example.com' },
    admin,
  )
})

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await topology?.stop()
  await topologyBus?.close()
  await setupBus?.close()
  await nats?.stop()
  await rm(dir, { recursive: true, force: true })
})

test('given only its own NATS rights, then the agent enrols and its heartbeats reach the stream', {
  timeout: 60_000,
}, async () => {
  const httpPort = await freePort()
  child = spawn(process.execPath, [mainTs], {
    env: {
      PATH: process.env.PATH ?? '',
      KRBFLEET_NATS_URL: url,
      KRBFLEET_NATS_USER: agent.user,
      KRBFLEET_NATS_PASSWORD: passwordOf(agent),
      KRBFLEET_NATS_INBOX_PREFIX: agent.inboxPrefix,
      KRBFLEET_HTTP_PORT: String(httpPort),
      KRBFLEET_AGENT_SERVER: server,
      KRBFLEET_AGENT_KEY_FILE: join(dir, 'agent', 'agent-key.pem'),
      KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: '300',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString()
  })
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString()
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>

  const heartbeats = async () => {
    const info = await setupBus.jsm.streams.info(streams.events.name)
    const out: EventEnvelope[] = []
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await setupBus.jsm.streams.getMessage(streams.events.name, { seq }).catch(() => null)
      const e = m?.json<EventEnvelope>()
      if (e && e.type === AgentHeartbeat.type) out.push(e)
    }
    return out
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ready && (await heartbeats()).length >= 2) break
    if (child.exitCode !== null || Date.now() > deadline)
      assert.fail(`not enrolled with heartbeats: ${output.slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  const { topology: draft } = await topology.service.get('draft')
  assert.equal(draft.agents.find((a) => a.server === server)?.server, server)
  assert.doesNotMatch(output, /Permissions Violation/, 'no right beyond its own was needed')
  child.kill('SIGTERM')
  assert.equal((await exited)[0], 0, output.slice(-2000))
})

test('given the agent NATS user, then every topology operation but agent.enrol is refused whatever actor it claims', async () => {
  const bus = await connectBus({
    servers: url,
    name: agent.user,
    logger: silentLogger(),
    user: agent.user,
    pass: passwordOf(agent),
    inboxPrefix: agent.inboxPrefix,
  })
  try {
    const forged = { actor: 'user:admin', timeoutMs: 2000 }
    const refused = {
      code: 'forbidden',
      retryable: false,
      message: /may not publish on krbfleet\.rpc\.topology\./,
    }
    await assert.rejects(
      callRpc(bus, 'topology', TopologyOperation.SiteAdd, { name: 'evil' }, forged),
      refused,
    )
    await assert.rejects(
      callRpc(bus, 'topology', TopologyOperation.ServerRemove, { fqdn: server }, forged),
      refused,
    )
    await assert.rejects(callRpc(bus, 'topology', TopologyOperation.TopologyEnable, {}, forged), refused)
    // The world is as it was: no site 'evil', the server still in its pool, nothing enabled by the agent.
    const { topology: draft } = await topology.service.get('draft')
    assert.deepEqual(
      draft.sites.map((s) => s.name),
      ['redmond'],
    )
    assert.ok(JSON.stringify(draft).includes(server), 'the server is still in the draft')
    // Enrolment, its one operation, reaches the topology service and is answered (a dry run: the
    // agent's own enrolment is the first test's).
    await callRpc(
      bus,
      'topology',
      TopologyOperation.AgentEnrol,
      { server, encryptionKey: 'A'.repeat(43), dryRun: true },
      { actor: `agent:${server}`, timeoutMs: 5000 },
    )
  } finally {
    await bus.close()
  }
})
