import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { subjects } from '@krbfleet/contracts'
import { freePort, startProcess, waitForPort } from '@krbfleet/testing'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { sampleTopology } from '../../lab/src/sample.ts'
import { generatedFiles, natsDeployDir } from '../src/generate.ts'
import { makeCertificates } from '../src/loopback.ts'
import { agentUser, bootstrapUser, serviceUsers } from '../src/permissions.ts'

const run = promisify(execFile)

test('deploy/nats/generated is up to date with libs/contracts', async () => {
  const { files } = await generatedFiles({ write: false })
  assert.deepEqual(
    files.filter((f) => f.changed).map((f) => f.path),
    [],
    'run: node deploy/nats/generate.ts',
  )
})

test('a service user may publish only its own domain events; an agent may read only its own credential subject', () => {
  const topology = serviceUsers().find((u) => u.user === 'krbfleet-topology')
  assert.ok(topology)
  assert.ok(topology.permissions.publish.allow.includes('krbfleet.events.topology.>'))
  assert.ok(!topology.permissions.publish.allow.some((s) => s.startsWith('krbfleet.events.account')))
  const agent = agentUser('fe01.corp.example.com')
  assert.deepEqual(agent.permissions.subscribe.allow, [
    subjects.agentCredential('fe01.corp.example.com'),
    `${agent.inboxPrefix}.>`,
  ])
  assert.deepEqual(
    agent.permissions.publish.allow.filter((s) => s.startsWith('$JS.') || s.startsWith('$KV.')),
    ['$JS.API.INFO', subjects.agentCredentialGet('fe01.corp.example.com')],
    'no consumer, stream or KV subject: one direct get of its own key',
  )
})

test('the hub and a site leaf start from these files; permissions hold across the leaf link', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'krbfleet-nats-deploy-'))
  t.after(() => rm(work, { recursive: true, force: true }))
  await cp(natsDeployDir, join(work, 'nats'), { recursive: true, filter: (src) => !src.includes('/test') })
  const tls = join(work, 'tls')
  await mkdir(tls)
  await makeCertificates(tls, ['redmond', 'dublin'])

  const ports = {
    hubClient: await freePort(),
    hubRoute: await freePort(),
    hubLeaf: await freePort(),
    hubHttp: await freePort(),
    leafClient: await freePort(),
    leafHttp: await freePort(),
    hub2Route: await freePort(),
    hub3Route: await freePort(),
  }
  // Aim the production files at this machine: certificate paths, store, loopback ports; the
  // routes to hub-2 and hub-3 point at a closed port (hub-1 alone still serves core NATS).
  const localize = async (file: string, client: number, http: number) => {
    let text = await readFile(file, 'utf8')
    text = text
      .replaceAll('/etc/nats/tls', tls)
      .replaceAll('/var/lib/nats/jetstream', join(work, 'jetstream'))
      .replaceAll('"0.0.0.0:4222"', `"127.0.0.1:${client}"`)
      .replaceAll('"127.0.0.1:8222"', `"127.0.0.1:${http}"`)
      .replaceAll('"0.0.0.0:6222"', `"127.0.0.1:${ports.hubRoute}"`)
      .replaceAll('"0.0.0.0:7422"', `"127.0.0.1:${ports.hubLeaf}"`)
      .replaceAll('hub-1.nats.corp.example.com:6222', `127.0.0.1:${ports.hubRoute}`)
      .replaceAll('hub-2.nats.corp.example.com:6222', `127.0.0.1:${ports.hub2Route}`)
      .replaceAll('hub-3.nats.corp.example.com:6222', `127.0.0.1:${ports.hub3Route}`)
      .replaceAll('hub-1.nats.corp.example.com:7422', `127.0.0.1:${ports.hubLeaf}`)
      .replaceAll('hub-2.nats.corp.example.com:7422', `127.0.0.1:${ports.hub2Route}`)
      .replaceAll('hub-3.nats.corp.example.com:7422', `127.0.0.1:${ports.hub3Route}`)
    await writeFile(file, text)
  }
  const hubDir = join(work, 'nats', 'hub')
  await localize(join(hubDir, 'hub-common.conf'), ports.hubClient, ports.hubHttp)
  for (const leaf of (await readdir(join(work, 'nats', 'generated'))).filter((f) => f.startsWith('leaf-'))) {
    await localize(join(work, 'nats', 'generated', leaf), ports.leafClient, ports.leafHttp)
  }

  const passwords: Record<string, string> = { KRBFLEET_NATS_PASSWORD_SYS: 'sys-pw' }
  for (const user of [...serviceUsers(), bootstrapUser()])
    passwords[user.passwordVariable.slice(1)] = `${user.user}-pw`
  for (const server of sampleTopology.servers.map((s) => s.fqdn)) {
    const user = agentUser(server)
    passwords[user.passwordVariable.slice(1)] = `${user.user}-pw`
  }
  const env = { ...process.env, ...passwords }

  for (const file of [
    join(hubDir, 'hub-1.conf'),
    join(hubDir, 'hub-2.conf'),
    join(hubDir, 'hub-3.conf'),
    join(work, 'nats', 'generated', 'leaf-redmond.conf'),
    join(work, 'nats', 'generated', 'leaf-dublin.conf'),
  ]) {
    const { stderr } = await run('nats-server', ['-t', '-c', file], { env })
    assert.match(stderr, /is valid/, file)
  }

  const hub = startProcess({
    name: 'hub-1',
    command: 'nats-server',
    args: ['-c', join(hubDir, 'hub-1.conf')],
    logFile: join(work, 'hub-1.log'),
    env,
  })
  t.after(() => hub.stop())
  await waitForPort('127.0.0.1', ports.hubClient, 10_000, 'hub-1')
  const leaf = startProcess({
    name: 'leaf-redmond',
    command: 'nats-server',
    args: ['-c', join(work, 'nats', 'generated', 'leaf-redmond.conf')],
    logFile: join(work, 'leaf-redmond.log'),
    env,
  })
  t.after(() => leaf.stop())
  await waitForPort('127.0.0.1', ports.leafClient, 10_000, 'leaf-redmond')

  const ca = await readFile(join(tls, 'ca.pem'), 'utf8')
  const connections: NatsConnection[] = []
  t.after(async () => {
    for (const nc of connections) await nc.close().catch(() => {})
  })
  const as = async (port: number, user: string) => {
    const nc = await connect({
      servers: `tls://127.0.0.1:${port}`,
      user,
      pass: `${user}-pw`,
      tls: { ca },
      // Each user's own reply inbox, as its permissions require (deploy/nats README).
      inboxPrefix: `_INBOX_${user}`,
    })
    connections.push(nc)
    return nc
  }
  const permissionErrors = (nc: NatsConnection) => {
    const seen: string[] = []
    ;(async () => {
      for await (const s of nc.status()) if (s.type === 'error') seen.push(String(s.error))
    })()
    return seen
  }

  // Wait until the leaf link is up (the hub reports it on /leafz).
  for (let i = 0; i < 200; i++) {
    const leafz = (await (await fetch(`http://127.0.0.1:${ports.hubHttp}/leafz`)).json()) as {
      leafnodes: number
    }
    if (leafz.leafnodes > 0) break
    await new Promise((r) => setTimeout(r, 50))
  }

  const fe01 = await as(ports.leafClient, 'agent-fe01_corp_example_com')
  const fe01Errors = permissionErrors(fe01)
  const own = fe01.subscribe(subjects.agentCredential('fe01.corp.example.com'), { max: 1 })
  const foreign = fe01.subscribe(subjects.agentCredential('fe02.corp.example.com'))
  await fe01.flush()

  const account = await as(ports.hubClient, 'krbfleet-account')
  // Interest from the leaf reaches the hub asynchronously: publish until the agent gets one.
  const received = (async () => {
    for await (const m of own) return m.string()
    return undefined
  })()
  let got: string | undefined
  for (let i = 0; i < 100 && got === undefined; i++) {
    account.publish(subjects.agentCredential('fe01.corp.example.com'), 'sealed-for-fe01')
    account.publish(subjects.agentCredential('fe02.corp.example.com'), 'sealed-for-fe02')
    await account.flush()
    got = await Promise.race([received, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))])
  }
  assert.equal(got, 'sealed-for-fe01', 'the agent receives its own credential through the leaf')
  for (let i = 0; i < 100 && fe01Errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(
    fe01Errors.some(
      (e) => /permissions violation for subscription/i.test(e) && e.includes('fe02_corp_example_com'),
    ),
    `fe01 may not subscribe to fe02's credential subject (saw: ${fe01Errors.join('; ')})`,
  )
  assert.equal(foreign.getReceived(), 0, 'nothing for fe02 reached fe01')

  // The agent calls the topology service across the leaf and gets the answer on its own inbox, but
  // may not subscribe to a service's inbox (it would read other request/reply answers) nor to all.
  const topology = await as(ports.hubClient, 'krbfleet-topology')
  const enrolSubject = subjects.agentEnrol('fe01.corp.example.com')
  topology.subscribe(enrolSubject, {
    callback: (_e, m) => {
      m.respond('enrolled')
    },
  })
  await topology.flush()
  let answer: string | undefined
  for (let i = 0; i < 100 && answer === undefined; i++) {
    answer = await fe01
      .request(enrolSubject, '', { timeout: 200 })
      .then((m) => m.string())
      .catch(() => undefined)
  }
  assert.equal(answer, 'enrolled', 'the agent gets its RPC answer through the leaf')
  fe01.subscribe('_INBOX_krbfleet-account.>')
  fe01.subscribe('_INBOX.>')
  await fe01.flush()
  const inboxViolation = (subject: string) =>
    fe01Errors.some((e) => /permissions violation for subscription/i.test(e) && e.includes(`"${subject}"`))
  for (
    let i = 0;
    i < 100 && !(inboxViolation('_INBOX.>') && inboxViolation('_INBOX_krbfleet-account.>'));
    i++
  ) {
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.ok(
    inboxViolation('_INBOX_krbfleet-account.>'),
    `the agent may not subscribe to another user's inbox (saw: ${fe01Errors.join('; ')})`,
  )
  assert.ok(inboxViolation('_INBOX.>'), `nor to every inbox (saw: ${fe01Errors.join('; ')})`)

  const topologyErrors = permissionErrors(topology)
  topology.publish('krbfleet.events.account.PasswordReset', '{}')
  await topology.flush()
  for (let i = 0; i < 100 && topologyErrors.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(
    topologyErrors.some((e) => /permission/i.test(e)),
    `topology may not publish account events (saw: ${topologyErrors.join('; ')})`,
  )
})
