import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Bus, callRpc, connectBus } from '@krbfleet/bus'
import {
  AgentHeartbeat,
  agentToken,
  buckets,
  CredentialApplied,
  CredentialApplyFailed,
  CredentialRemoved,
  subjects,
  TopologyOperation,
} from '@krbfleet/contracts'
import { readKeytabFile } from '@krbfleet/kerberos'
import { silentLogger } from '@krbfleet/logging'
import {
  exportPublicKey,
  generateAgentKeyPair,
  generateSignerKeyPair,
  importPublicKey,
  keyIdOf,
} from '@krbfleet/sealing'
import { freePort, type ManagedProcess, startProcess, waitForPort } from '@krbfleet/testing'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'
import { agentUser, type NatsUser, renderUsers, serviceUsers } from '../../../deploy/nats/src/permissions.ts'
import { issueCredential, storedEvents, storedHeartbeats } from './helpers.ts'

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
let accountBus: Bus
const agent = agentUser(server)
const otherServer = 'fe02.corp.example.com'
const otherAgent = agentUser(otherServer)
const signer = generateSignerKeyPair()
const passwordOf = (user: NatsUser) => `${user.user}-pw`
/** A client under one of the deploy/nats users of this server. */
const connectAs = (user: NatsUser, extra: { publishTimeoutMs?: number } = {}) =>
  connectBus({
    servers: url,
    name: user.user,
    logger: silentLogger(),
    user: user.user,
    pass: passwordOf(user),
    inboxPrefix: user.inboxPrefix,
    ...extra,
  })
let child: ChildProcess | undefined
let keytab: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'krbfleet-agent-lp-'))
  keytab = join(dir, 'keytab', 'http.keytab')
  const topologyUser = serviceUsers().find((u) => u.user === 'krbfleet-topology')
  assert.ok(topologyUser)
  const accountUser = serviceUsers().find((u) => u.user === 'krbfleet-account')
  assert.ok(accountUser)
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
      renderUsers([topologyUser, accountUser, agent, otherAgent], '    '),
      '  ]',
      '}',
      '',
    ].join('\n'),
  )
  const env: Record<string, string> = { ...(process.env as Record<string, string>) }
  for (const user of [topologyUser, accountUser, agent, otherAgent])
    env[user.passwordVariable.slice(1)] = passwordOf(user)
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
  topologyBus = await connectAs(topologyUser)
  topology = await startTopology({ bus: topologyBus, logger: silentLogger(), catchUpIntervalMs: 0 })
  accountBus = await connectAs(accountUser)
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
  await callRpc(
    setupBus,
    'topology',
    TopologyOperation.ServerAdd,
    { fqdn: otherServer, pool: 'pool01.corp.example.com' },
    admin,
  )
})

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await topology?.stop()
  await topologyBus?.close()
  await accountBus?.close()
  await setupBus?.close()
  await nats?.stop()
  await rm(dir, { recursive: true, force: true })
})

test('given only its own NATS rights, then the agent enrols, installs its retained credential and reports it', {
  timeout: 60_000,
}, async () => {
  const httpPort = await freePort()
  const tokenFile = join(dir, 'agent', 'enrol-token')
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
      KRBFLEET_AGENT_ENROL_TOKEN_FILE: tokenFile,
      KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: '300',
      KRBFLEET_AGENT_SIGNER_KEY: exportPublicKey(signer.publicKey),
      KRBFLEET_AGENT_KEYTAB: keytab,
      KRBFLEET_AGENT_KDC_CHECK: 'false',
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

  const heartbeats = () => storedHeartbeats(setupBus)
  const until = async (what: string, condition: () => Promise<boolean>) => {
    const deadline = Date.now() + 30_000
    while (!(await condition())) {
      if (child?.exitCode !== null || Date.now() > deadline) assert.fail(`${what}: ${output.slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  // Without its token the agent may not enrol its new key: it says what to do and keeps trying.
  await until('no "needs a token" in the log', async () => /enrolment needs a token/.test(output))
  assert.equal((await topology.service.get('draft')).topology.agents.length, 0)
  // The operator issues the server's token; it is put in the agent's token file.
  const issued = await callRpc<{ token: string; expiresAt: string }>(
    setupBus,
    'topology',
    TopologyOperation.AgentToken,
    { server },
    admin,
  )
  assert.match(issued.token, /^kfe_[A-Za-z0-9_-]{43}$/)
  await writeFile(tokenFile, `${issued.token}\n`, { mode: 0o600 })
  await until('not enrolled with heartbeats', async () => {
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    )
    return ready && (await heartbeats()).length >= 2
  })
  const { topology: draft } = await topology.service.get('draft')
  const enrolled = draft.agents.find((a) => a.server === server)
  assert.equal(enrolled?.server, server)
  await assert.rejects(stat(tokenFile), { code: 'ENOENT' }, 'the used token is deleted')
  assert.ok(
    !JSON.stringify(
      await setupBus.kv(buckets.topology).then((kv) => kv.get(`agent-token.${agentToken(server)}`)),
    ).includes(issued.token),
  )

  // The account service (under its own NATS user) retains a credential sealed to the enrolled key.
  const credentials = await accountBus.kv(buckets.credentials)
  const recipient = importPublicKey(enrolled?.encryptionKey ?? '', 'x25519')
  await credentials.put(
    agentToken(server),
    JSON.stringify(
      issueCredential({
        server,
        account: 'CORP\\KERBAUTH',
        kvno: 7,
        to: { publicKey: recipient, keyId: keyIdOf(recipient) },
        by: signer,
      }),
    ),
  )
  // The bell the account service rings after a put (its KvCredentialBucket).
  accountBus.nc.publish(subjects.agentCredential(server))
  await until('the credential is not installed', async () => {
    const entries = await readKeytabFile(keytab).catch(() => [])
    return entries.some((e) => e.kvno === 7)
  })
  await until('no CredentialApplied', async () =>
    (await storedEvents(setupBus, CredentialApplied.type)).some(
      (e) =>
        JSON.stringify(e.data) ===
        JSON.stringify({
          server,
          account: 'CORP\\KERBAUTH',
          kvno: 7,
          held: [{ account: 'CORP\\KERBAUTH', kvno: 7 }],
        }),
    ),
  )
  await until('no heartbeat with kvno 7 and the health', async () =>
    (await heartbeats()).some(
      (e) =>
        JSON.stringify(e.data) ===
        JSON.stringify({
          server,
          backend: 'keytab',
          kvnos: [{ account: 'CORP\\KERBAUTH', kvno: 7 }],
          health: { ok: true },
        }),
    ),
  )
  assert.equal((await stat(keytab)).mode & 0o777, 0o640)
  assert.doesNotMatch(output, /Permissions Violation/, 'no right beyond its own was needed')
  child.kill('SIGTERM')
  assert.equal((await exited)[0], 0, output.slice(-2000))
})

test('given the agent NATS user, then every topology operation but agent.enrol is refused whatever actor it claims', async () => {
  const bus = await connectAs(agent)
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
    // Enrolment, its one operation, reaches the topology service and is answered: a new key
    // without the server's token is refused by the service, not by NATS (a dry run).
    await assert.rejects(
      callRpc(
        bus,
        'topology',
        TopologyOperation.AgentEnrol,
        { encryptionKey: 'A'.repeat(43), dryRun: true },
        { actor: 'user:admin', server, timeoutMs: 5000 },
      ),
      { code: 'forbidden', field: 'token', message: /needs its one-time enrolment token/ },
    )
  } finally {
    await bus.close()
  }
})

test("given two agents' NATS users, then each reads only its own credential and no consumer", async () => {
  const credentials = await accountBus.kv(buckets.credentials)
  await credentials.put(agentToken(otherServer), '{"sealed for":"fe02"}')
  const a = await connectAs(agent)
  const b = await connectAs(otherAgent)
  try {
    const errors: string[] = []
    void (async () => {
      for await (const s of a.nc.status()) if (s.type === 'error') errors.push(String(s.error))
    })()
    // B reads its own key; A may not direct-get B's key, nor subscribe to it.
    const own = await b.nc.request(subjects.agentCredentialGet(otherServer), undefined, { timeout: 2000 })
    assert.equal(own.string(), '{"sealed for":"fe02"}')
    await assert.rejects(
      a.nc.request(subjects.agentCredentialGet(otherServer), undefined, { timeout: 2000 }),
      /Permissions Violation for Publish to "\$JS\.API\.DIRECT\.GET\.KV_krbfleet-credentials\.\$KV\.krbfleet-credentials\.fe02_corp_example_com"/,
    )
    const foreign = a.nc.subscribe(subjects.agentCredential(otherServer))
    await a.nc.flush()
    await credentials.put(agentToken(otherServer), '{"sealed for":"fe02","again":true}')
    accountBus.nc.publish(subjects.agentCredential(otherServer))
    for (let i = 0; i < 100 && !errors.some((e) => e.includes('fe02_corp_example_com')); i++)
      await new Promise((r) => setTimeout(r, 20))
    assert.ok(
      errors.some(
        (e) => /permissions violation for subscription/i.test(e) && e.includes('fe02_corp_example_com'),
      ),
      `A may not subscribe to B's credential (saw: ${errors.join('; ')})`,
    )
    assert.equal(foreign.getReceived(), 0, "nothing of B's reached A")
    const foreignKey = a.nc.subscribe(subjects.agentCredentialKey(otherServer))
    await a.nc.flush()
    const keyRefused = (e: string) =>
      e.includes('Subscription to "$KV.krbfleet-credentials.fe02_corp_example_com"')
    for (let i = 0; i < 100 && !errors.some(keyRefused); i++) await new Promise((r) => setTimeout(r, 20))
    assert.ok(errors.some(keyRefused), `A may not subscribe to B's key (saw: ${errors.join('; ')})`)
    assert.equal(foreignKey.getReceived(), 0)
    // No watcher either: a consumer's filter could name B's key.
    await assert.rejects(a.kv(buckets.credentials), { code: 'forbidden' })
    await assert.rejects(
      a.jsm.consumers.add(`KV_${buckets.credentials.bucket}`, {
        filter_subject: subjects.agentCredential(otherServer),
      }),
      /Permissions Violation for Publish/,
    )
  } finally {
    await a.close()
    await b.close()
  }
})

test("given two agents' NATS users, then A is refused for B: enrolment, heartbeat and every report", async () => {
  const a = await connectAs(agent, { publishTimeoutMs: 1000 })
  try {
    const issued = await callRpc<{ token: string }>(
      setupBus,
      'topology',
      TopologyOperation.AgentToken,
      { server: otherServer },
      admin,
    )
    const key = exportPublicKey(generateAgentKeyPair().publicKey)
    // B's enrolment subject, even with B's valid token: refused by NATS.
    await assert.rejects(
      callRpc(
        a,
        'topology',
        TopologyOperation.AgentEnrol,
        { encryptionKey: key, token: issued.token },
        {
          actor: `agent:${otherServer}`,
          server: otherServer,
          timeoutMs: 2000,
        },
      ),
      {
        code: 'forbidden',
        message: /may not publish on krbfleet\.rpc\.topology\.agent\.enrol\.fe02_corp_example_com/,
      },
    )
    // Its own subject cannot name B: the body has no server field.
    await assert.rejects(
      callRpc(
        a,
        'topology',
        TopologyOperation.AgentEnrol,
        { server: otherServer, encryptionKey: key, token: issued.token },
        {
          actor: `agent:${otherServer}`,
          server,
          timeoutMs: 5000,
        },
      ),
      { code: 'invalid' },
    )
    assert.equal(
      (await topology.service.get('draft')).topology.agents.find((x) => x.server === otherServer),
      undefined,
      'B is not enrolled',
    )
    // Every report for B is refused: heartbeat, applied, failed, removed.
    const forB = { actor: `agent:${otherServer}` }
    for (const event of [
      AgentHeartbeat.create({ server: otherServer, backend: 'keytab', kvnos: [] }, forB),
      CredentialApplied.create({ server: otherServer, account: 'CORP\\KERBAUTH', kvno: 3 }, forB),
      CredentialApplyFailed.create(
        { server: otherServer, account: 'CORP\\KERBAUTH', kvno: 3, reason: 'forged' },
        forB,
      ),
      CredentialRemoved.create({ server: otherServer, account: 'CORP\\KERBAUTH' }, forB),
    ]) {
      await assert.rejects(
        a.publish(event),
        { code: 'forbidden', message: /fe02_corp_example_com/ },
        event.type,
      )
    }
    const stored = await storedEvents(setupBus, 'krbfleet.agent.')
    assert.ok(
      !stored.some((e) => (e.data as { server?: string }).server === otherServer),
      'nothing about B was stored',
    )
  } finally {
    await a.close()
  }
})
