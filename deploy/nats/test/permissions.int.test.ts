import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { RpcDesiredSpnSource } from '@krbfleet/account'
import { type Bus, callRpc, connectBus, serveRpc } from '@krbfleet/bus'
import {
  AgentHeartbeat,
  accountOperations,
  buckets,
  CredentialApplied,
  CredentialApplyFailed,
  CredentialRemoved,
  CredentialStaged,
  ServiceName,
  SpnDesiredRequest,
  spnOperations,
  streams,
  subjects,
  TopologyOperation,
} from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { durables as spnSyncDurables } from '@krbfleet/spn-sync'
import { agentStatusDurable } from '@krbfleet/topology'
import { freePort, startProcess, waitForPort } from '@krbfleet/testing'
import { AckPolicy } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { generatedDir, natsDeployDir } from '../src/generate.ts'
import {
  agentUser,
  bootstrapUser,
  leafDenyExports,
  type NatsUser,
  serviceDurables,
  serviceOperations,
  serviceUsers,
} from '../src/permissions.ts'

const run = promisify(execFile)
const repo = join(natsDeployDir, '..', '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const events = streams.events.name

test('only the bootstrap identity may create or update streams; every user subscribes only to its own inbox', () => {
  const admin = (u: NatsUser) =>
    u.permissions.publish.allow.filter((s) => /^\$JS\.API\.STREAM\.(CREATE|UPDATE|DELETE)\b/.test(s))
  for (const user of serviceUsers()) assert.deepEqual(admin(user), [], `${user.user} administers no stream`)
  const bootstrap = bootstrapUser()
  assert.ok(admin(bootstrap).includes(`$JS.API.STREAM.CREATE.${events}`))
  for (const def of Object.values(buckets)) {
    assert.ok(admin(bootstrap).includes(`$JS.API.STREAM.CREATE.KV_${def.bucket}`), def.bucket)
  }
  for (const user of [...serviceUsers(), bootstrap]) {
    const inboxes = user.permissions.subscribe.allow.filter((s) => s.startsWith('_INBOX'))
    assert.deepEqual(inboxes, [`_INBOX_${user.user}.>`], user.user)
    assert.equal(user.inboxPrefix, `_INBOX_${user.user}`)
  }
})

test('the durable consumers spn-sync and topology may manage are the ones they use; no other service has any on the events stream', () => {
  const rights = serviceDurables()
  assert.deepEqual([...(rights['spn-sync'] ?? [])].sort(), Object.values(spnSyncDurables).sort())
  assert.deepEqual(rights.topology, [agentStatusDurable])
  for (const [service, names] of Object.entries(rights))
    if (service !== 'spn-sync' && service !== 'topology') assert.deepEqual(names, [])
  for (const user of serviceUsers()) {
    const deletes = user.permissions.publish.allow.filter((s) =>
      s.startsWith(`$JS.API.CONSUMER.DELETE.${events}`),
    )
    assert.ok(!deletes.some((s) => s.endsWith('>') || s.endsWith('*')), `${user.user}: named durables only`)
  }
})

/** Does a NATS subject match a permission pattern (`*` one token, `>` the rest)? */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.')
  const t = subject.split('.')
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i
    if (i >= t.length || (p[i] !== '*' && p[i] !== t[i])) return false
  }
  return p.length === t.length
}

test('RPC rights are per operation: console all but agent.enrol, account spn.desired only, spn-sync and topology none', () => {
  const calls = (name: string) => {
    const user = serviceUsers().find((u) => u.user === name)
    assert.ok(user, name)
    return user.permissions.publish.allow.filter((s) => s.startsWith('krbfleet.rpc.'))
  }
  const every = Object.entries(serviceOperations).flatMap(([service, ops]) =>
    ops.map((op) => subjects.rpc(service as ServiceName, op)),
  )
  // Enrolment is served per server, for the agents alone: the console cannot enrol on anyone's behalf.
  const enrol = subjects.rpc(ServiceName.Topology, TopologyOperation.AgentEnrol)
  assert.deepEqual(calls('krbfleet-console').sort(), every.filter((s) => s !== enrol).sort())
  assert.ok(!calls('krbfleet-console').some((s) => s.startsWith(enrol)))
  assert.deepEqual(calls('krbfleet-account'), [subjects.rpc(ServiceName.SpnSync, spnOperations.desired)])
  assert.deepEqual(calls('krbfleet-spn-sync'), [])
  assert.deepEqual(calls('krbfleet-topology'), [])
  for (const user of serviceUsers())
    assert.ok(!calls(user.user).some((s) => s.includes('*') || s.includes('>')), `${user.user}: no wildcard`)
})

test('an agent may request its own agent.enrol only and publish only its own events; a leaf lets no other topology operation out', () => {
  const server = 'fe01.corp.example.com'
  const agent = agentUser(server)
  const enrol = subjects.agentEnrol(server)
  const reports = [
    AgentHeartbeat,
    CredentialStaged,
    CredentialApplied,
    CredentialApplyFailed,
    CredentialRemoved,
  ].map((e) => `${e.subject}.fe01_corp_example_com`)
  assert.equal(enrol, 'krbfleet.rpc.topology.agent.enrol.fe01_corp_example_com')
  assert.deepEqual(
    agent.permissions.publish.allow.filter((s) => s.startsWith('krbfleet.')).sort(),
    [enrol, ...reports].sort(),
  )
  const deny = leafDenyExports()
  assert.ok(!deny.some((d) => matches(d, enrol)), 'enrolment passes the leaf')
  for (const subject of reports)
    assert.ok(!deny.some((d) => matches(d, subject)), `${subject} passes the leaf`)
  for (const [service, ops] of Object.entries(serviceOperations))
    for (const op of ops) {
      const subject = subjects.rpc(service as ServiceName, op)
      if (op !== TopologyOperation.AgentEnrol)
        assert.ok(
          deny.some((d) => matches(d, subject)),
          `${subject} is denied on the leaf`,
        )
    }
})

test('KV readers cannot delete consumers; the console does not read the sealed accounts bucket', () => {
  for (const user of serviceUsers()) {
    const kvAdmin = user.permissions.publish.allow.filter((s) =>
      /^\$JS\.API\.CONSUMER\.(DELETE|DURABLE\.CREATE|MSG\.NEXT)\.KV_/.test(s),
    )
    assert.deepEqual(kvAdmin, [], user.user)
  }
  const console_ = serviceUsers().find((u) => u.user === 'krbfleet-console')
  assert.ok(console_)
  assert.ok(!console_.permissions.publish.allow.some((s) => s.includes(`KV_${buckets.accounts.bucket}`)))
  assert.ok(!console_.permissions.publish.allow.some((s) => s.includes(`$KV.${buckets.accounts.bucket}`)))
})

/**
 * A standalone JetStream server with the generated hub accounts (the hub files need their cluster
 * peers for JetStream; the users and permissions are the same file).
 */
async function startHubAuthServer(t: { after(fn: () => unknown): void }) {
  const work = await mkdtemp(join(tmpdir(), 'krbfleet-nats-perm-'))
  t.after(() => rm(work, { recursive: true, force: true }))
  await copyFile(join(generatedDir, 'hub-auth.conf'), join(work, 'hub-auth.conf'))
  const port = await freePort()
  await writeFile(
    join(work, 'server.conf'),
    [
      `listen: "127.0.0.1:${port}"`,
      `jetstream { store_dir: ${JSON.stringify(join(work, 'js'))} }`,
      'include "hub-auth.conf"',
      '',
    ].join('\n'),
  )
  const env: Record<string, string> = { ...(process.env as Record<string, string>) }
  env.KRBFLEET_NATS_PASSWORD_SYS = 'sys-pw'
  for (const user of [...serviceUsers(), bootstrapUser()])
    env[user.passwordVariable.slice(1)] = `${user.user}-pw`
  const server = startProcess({
    name: 'nats-perm',
    command: 'nats-server',
    args: ['-c', join(work, 'server.conf')],
    logFile: join(work, 'nats.log'),
    env,
  })
  t.after(() => server.stop())
  await waitForPort('127.0.0.1', port, 10_000, 'nats-server')
  return { url: `nats://127.0.0.1:${port}`, work }
}

test('services verify streams the bootstrap identity created, manage only their own durables, and read only their own inbox', async (t) => {
  const { url } = await startHubAuthServer(t)
  const buses: Bus[] = []
  t.after(async () => {
    for (const bus of buses) await bus.close()
  })
  const busAs = async (user: NatsUser) => {
    const bus = await connectBus({
      servers: url,
      name: user.user,
      logger: silentLogger(),
      user: user.user,
      pass: `${user.user}-pw`,
      inboxPrefix: user.inboxPrefix,
      publishTimeoutMs: 1000,
    })
    buses.push(bus)
    return bus
  }
  const userOf = (name: string) => {
    const user = serviceUsers().find((u) => u.user === name)
    assert.ok(user, name)
    return user
  }

  // Before the bootstrap, a service cannot create the events stream itself.
  const account = await busAs(userOf('krbfleet-account'))
  await assert.rejects(account.ensureStreams(), {
    code: 'forbidden',
    retryable: false,
    message: /may not publish on \$JS\.API\.STREAM\.CREATE\.KRBFLEET_EVENTS/,
  })
  await assert.rejects(account.kv(buckets.accounts), {
    code: 'forbidden',
    retryable: false,
    message: /may not publish on \$JS\.API\.STREAM\.CREATE\.KV_/,
  })

  // The bootstrap script, as krbfleet-bootstrap, creates the stream and every bucket.
  const bootstrap = bootstrapUser()
  const script = await run(node, [join(natsDeployDir, 'bootstrap.ts')], {
    cwd: repo,
    env: {
      ...process.env,
      KRBFLEET_NATS_URL: url,
      KRBFLEET_NATS_USER: bootstrap.user,
      KRBFLEET_NATS_PASSWORD: `${bootstrap.user}-pw`,
      KRBFLEET_NATS_INBOX_PREFIX: bootstrap.inboxPrefix,
    },
  })
  assert.match(script.stdout, /streams and buckets are in place/)
  const jsm = account.jsm
  assert.equal((await jsm.streams.info(events)).config.name, events)

  // Now the service's start-up checks pass and it uses its buckets; it still may not alter a stream.
  await account.ensureStreams()
  const accountsKv = await account.kv(buckets.accounts)
  await accountsKv.put('probe', '{}')
  assert.equal((await accountsKv.get('probe'))?.string(), '{}')
  const info = (await jsm.streams.info(events)).config
  await assert.rejects(
    jsm.streams.update(events, { ...info, description: 'changed by account' }),
    /Permissions Violation for Publish to "\$JS\.API\.STREAM\.UPDATE\.KRBFLEET_EVENTS"/,
  )
  assert.notEqual((await jsm.streams.info(events)).config.description, 'changed by account')

  // spn-sync creates and deletes its own durable; the account service may not delete it, and
  // spn-sync may not make a consumer under another name.
  const spnSync = await busAs(userOf('krbfleet-spn-sync'))
  const durable = spnSyncDurables.topologyEnabled
  await spnSync.jsm.consumers.add(events, { durable_name: durable, ack_policy: AckPolicy.Explicit })
  await assert.rejects(account.jsm.consumers.delete(events, durable), /Permissions Violation for Publish/)
  assert.equal((await spnSync.jsm.consumers.info(events, durable)).name, durable, 'still there')
  await assert.rejects(
    spnSync.jsm.consumers.add(events, { durable_name: 'someone-else', ack_policy: AckPolicy.Explicit }),
    /Permissions Violation for Publish/,
  )
  assert.equal(await spnSync.jsm.consumers.delete(events, durable), true)

  // Request/reply, per operation: the account service asks spn-sync for the desired SPNs (its
  // `test account` check) and gets the answer on its own inbox; it may call nothing else, and
  // spn-sync, which calls no service, is refused every account operation.
  const desired = serveRpc(spnSync, {
    service: ServiceName.SpnSync,
    operation: spnOperations.desired,
    request: SpnDesiredRequest,
    handle: (body) =>
      body.account === 'CORP\\LARGE'
        ? {
            spns: Array.from(
              { length: 40_000 },
              (_, i) => `HTTP/web${i}.pool${'x'.repeat(60)}.corp.example.com`,
            ),
          }
        : { spns: [`HTTP/${body.account.toLowerCase()}.corp.example.com`] },
  })
  t.after(() => desired.stop())
  await desired.ready
  const actor = { actor: 'user:permissions-test', timeoutMs: 2000 }
  // The account service's own adapter (it answers null, silently, when the call fails).
  assert.deepEqual(
    await new RpcDesiredSpnSource(account, silentLogger(), 2000).desiredSpns('CORP\\WEBPOOL', 'user:test'),
    ['HTTP/corp\\webpool.corp.example.com'],
  )
  // An answer larger than one message (3.6 MB) comes in parts: responses its NATS user may send.
  const large = await callRpc<{ spns: string[] }>(
    account,
    ServiceName.SpnSync,
    spnOperations.desired,
    { account: 'CORP\\LARGE' },
    actor,
  )
  assert.equal(large.spns.length, 40_000)
  assert.equal(large.spns[39_999], `HTTP/web39999.pool${'x'.repeat(60)}.corp.example.com`)
  const refused = { code: 'forbidden', retryable: false, message: /may not publish on krbfleet\.rpc\./ }
  await assert.rejects(
    callRpc(account, ServiceName.SpnSync, spnOperations.reconcile, {}, actor),
    refused,
    'account may call spn.desired only',
  )
  await assert.rejects(
    callRpc(account, ServiceName.Topology, TopologyOperation.SiteList, {}, actor),
    refused,
    'account calls no topology operation',
  )
  for (const operation of Object.values(accountOperations)) {
    await assert.rejects(
      callRpc(spnSync, ServiceName.Account, operation, {}, actor),
      refused,
      `spn-sync may not call ${operation}`,
    )
  }
  // A KV reader (the console) lists, reads the history of and watches the topology bucket with its
  // read rights alone, may not delete a consumer there, and cannot open the sealed accounts bucket.
  const consoleBus = await busAs(userOf('krbfleet-console'))
  const topology = await busAs(userOf('krbfleet-topology'))
  const topologyKv = await topology.kv(buckets.topology)
  await topologyKv.put('probe', '1')
  await topologyKv.put('probe', '2')
  const readKv = await consoleBus.kv(buckets.topology)
  const keys: string[] = []
  for await (const k of await readKv.keys()) keys.push(k)
  assert.deepEqual(keys, ['probe'])
  const history: string[] = []
  for await (const e of await readKv.history({ key: 'probe' })) history.push(e.string())
  assert.deepEqual(history, ['1', '2'])
  const watch = await readKv.watch({ key: 'probe' })
  for await (const e of watch) {
    assert.equal(e.string(), '2')
    break
  }
  const kvStreamName = `KV_${buckets.topology.bucket}`
  const kvConsumers = await topology.jsm.consumers
    .list(kvStreamName)
    .next()
    .catch(() => [])
  await assert.rejects(
    consoleBus.jsm.consumers.delete(kvStreamName, kvConsumers[0]?.name ?? 'any'),
    /Permissions Violation for Publish/,
  )
  await assert.rejects(consoleBus.kv(buckets.accounts), { code: 'forbidden' })

  const console_ = await connect({ servers: url, user: 'krbfleet-console', pass: 'krbfleet-console-pw' })
  t.after(() => console_.close())
  const errors = permissionErrors(console_)
  console_.subscribe('_INBOX_krbfleet-account.>')
  console_.subscribe('_INBOX.>')
  await console_.flush()
  for (let i = 0; i < 100 && errors.length < 2; i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(
    errors.some((e) => e.includes('_INBOX_krbfleet-account.>')),
    `no subscription to another user's inbox (saw: ${errors.join('; ')})`,
  )
  assert.ok(
    errors.some((e) => e.includes('"_INBOX.>"')),
    `no subscription to all inboxes (saw: ${errors.join('; ')})`,
  )
})

function permissionErrors(nc: NatsConnection): string[] {
  const seen: string[] = []
  ;(async () => {
    for await (const s of nc.status()) if (s.type === 'error') seen.push(String(s.error))
  })()
  return seen
}

test('the account service hears the agents’ credential reports a rotation counts, and no other service does', () => {
  const listens = (u: NatsUser) =>
    u.permissions.subscribe.allow.filter((s) => !s.startsWith('_INBOX') && !s.startsWith('krbfleet.rpc.'))
  for (const user of serviceUsers()) {
    const expected =
      user.user === 'krbfleet-account'
        ? [CredentialStaged, CredentialApplied, CredentialApplyFailed].map((e) => `${e.subject}.*`)
        : []
    assert.deepEqual(listens(user), expected, user.user)
  }
})

test('the console reads the event log message by message (no consumer on the events stream); no other service may', () => {
  const get = `$JS.API.STREAM.MSG.GET.${events}`
  for (const user of serviceUsers()) {
    const allow = user.permissions.publish.allow
    assert.equal(allow.includes(get), user.user === 'krbfleet-console', user.user)
    if (user.user === 'krbfleet-console')
      assert.ok(
        !allow.some((s) => s.startsWith(`$JS.API.CONSUMER.CREATE.${events}`)),
        'the console creates no consumer',
      )
  }
})
