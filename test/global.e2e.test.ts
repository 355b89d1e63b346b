/**
 * A global deployment for real (issue 15): deploy/nats's hub cluster (three nats-servers, JetStream
 * R3) and one leaf node per site, on loopback, from the production files with the generated per-user
 * permissions and TLS (test/support/global-nats.ts). The services connect to the hubs as their own
 * users, each site's agent (a real agent process, keytab backend, behind its own Apache with
 * mod_auth_gssapi) to its site's leaf as its own user. Then the faults: a site's leaf killed during
 * a rotation, the stream leader's hub SIGKILLed mid-rotation, a leaf restarted with its agent.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import {
  type AgentRow,
  AgentStatus,
  agentToken,
  buckets,
  CredentialApplied,
  CredentialStaged,
  type EventEnvelope,
  PasswordRotated,
  PasswordRotationStarted,
  type RotationView,
  streams,
} from '@krbfleet/contracts'
import { createUser, strongPassword } from '@krbfleet/testing'
import { sitePool, sitesTopology } from '@krbfleet/testing/topology'
import { connect } from '@nats-io/transport-node'
import { cliBin, startSystem, type System, tail, tokens } from './support/system.ts'
import { copyCache, login, startWebServer, type WebServer } from './support/web-servers.ts'

const ACCOUNT = 'CORP\\KERBGLOB'
const SAM = 'KERBGLOB$'
const SITES = ['dublin', 'paris', 'tokyo'] as const
type Site = (typeof SITES)[number]
const poolOf = (site: Site) => sitePool(site)
const serverOf = (site: Site) => `fe01.${site}.corp.example.com`

/** The topology the operator builds below, as deploy/nats renders the leaves from it. */
const topology = sitesTopology(
  ACCOUNT,
  SITES.map((site) => ({ site, servers: [serverOf(site)] })),
)

/** Agents beat every 500 ms: silent for 4 s is offline. */
const accountEnv = {
  KRBFLEET_ACCOUNT_ROTATION_STAGE_TIMEOUT_MS: '20000',
  KRBFLEET_ACCOUNT_ROTATION_APPLY_TIMEOUT_MS: '45000',
  KRBFLEET_ACCOUNT_AGENT_ONLINE_WITHIN_MS: '4000',
  KRBFLEET_ACCOUNT_ROTATION_STALE_AFTER_MS: '2000',
}

describe('global deployment: a hub cluster, a leaf node per site, faults', { timeout: 900_000 }, () => {
  let system: System
  const web = new Map<Site, WebServer>()
  const userPassword = strongPassword()
  let caches = 0

  const global = () => {
    assert.ok(system.global, 'the system runs on the global deployment')
    return system.global
  }
  const webOf = (site: Site) => web.get(site)!
  /** The account's latest rotation; asked again while the account service cannot answer (a fail-over). */
  const latest = async (): Promise<RotationView> => {
    for (let attempt = 1; ; attempt++) {
      const r = await system.api<RotationView>('GET', '/v1/accounts/CORP.KERBGLOB/rotation', {
        role: 'viewer',
      })
      if (r.status === 200 || attempt >= 120) return r.body
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
  const freshCache = async () => {
    const name = `fresh-${++caches}`
    await copyCache(system, 'tgt', name)
    return name
  }
  const ofType = async (type: string, correlationId: string): Promise<EventEnvelope[]> =>
    (await system.events()).filter((e) => e.type === type && e.correlationId === correlationId)
  /** `krbfleet password set` as its own process, started now; resolves with its outcome. */
  const passwordSet = () =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(cliBin, ['password', 'set', ACCOUNT], {
        env: { ...process.env, KRBFLEET_URL: system.consoleUrl, KRBFLEET_TOKEN: tokens.admin.secret },
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c) => {
        stdout += c
      })
      child.stderr.on('data', (c) => {
        stderr += c
      })
      child.on('exit', (code) => resolve({ code, stdout, stderr }))
    })
  /** Negotiate rounds against the servers of `sites` with a ticket taken before and new ones, until stopped. */
  const probe = (sites: readonly Site[]) => {
    const state = { rounds: 0, failures: [] as string[], stopped: false }
    const loop = (async () => {
      while (!state.stopped) {
        const fresh = await freshCache()
        for (const site of sites) {
          for (const cache of ['before', fresh]) {
            const status = await webOf(site).negotiate(cache)
            if (status !== 200) state.failures.push(`${site} ${cache} ${status} (round ${state.rounds})`)
          }
        }
        state.rounds++
      }
    })()
    return {
      state,
      async stop() {
        state.stopped = true
        await loop
      },
    }
  }
  /** The account service's and the agents' warnings and errors, for a failure message. */
  const problems = async () => {
    const account = (await tail(system.accountProcess?.logFile ?? '', 400))
      .split('\n')
      .filter((l) => /"level":(40|50|60)/.test(l))
      .slice(-15)
    const agents = [...web.values()].flatMap((w) =>
      w
        .output()
        .split('\n')
        .filter((l) => /"level":(40|50|60)/.test(l))
        .slice(-5),
    )
    const inProcess = system.logs.lines.filter((l) => /"level":(50|60)/.test(l)).slice(-10)
    return ['account:', ...account, 'agents:', ...agents, 'topology and console:', ...inProcess]
      .map((l) => l.slice(0, 600))
      .join('\n')
  }
  /** Every stream and bucket has a leader and two current replicas (after a fault, before the next). */
  const jetStreamSettled = () =>
    system.eventually(
      async () => {
        for (const name of [
          streams.events.name,
          streams.heartbeats.name,
          ...Object.values(buckets).map((b) => `KV_${b.bucket}`),
        ]) {
          const { cluster } = await system.bus.jsm.streams.info(name)
          if (!cluster?.leader || cluster.replicas?.filter((r) => r.current).length !== 2) return false
        }
        // And the account service answers from its buckets again (its KV readers' consumers made anew).
        return (await system.cli(['account', 'show', ACCOUNT], 'viewer')).code === 0
      },
      'JetStream settled: every stream led and replicated, the account service answering',
      120_000,
    )
  const holds = async (site: Site, kvno: number) => (await webOf(site).kvnos()).includes(kvno)
  const agentStatus = async (server: string) => {
    const kv = await system.bus.kv(buckets.agents)
    const entry = await kv.get(agentToken(server))
    return entry?.operation === 'PUT' ? AgentStatus.decode(entry.json()) : undefined
  }

  before(async () => {
    system = await startSystem({ global: { topology }, accountProcess: { env: accountEnv } })
    await createUser(system.dc, 'alice', userPassword)
    const ok = async (args: string[]) => {
      const result = await system.cli(args)
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`)
    }
    await ok(['account', 'new', ACCOUNT])
    for (const site of SITES) {
      await ok(['site', 'add', site])
      await ok(['pool', 'add', poolOf(site), '--site', site])
      await ok(['assignment', 'new', site, ACCOUNT])
      await ok(['server', 'add', serverOf(site), '--pool', poolOf(site), '--backend', 'keytab'])
    }
    await ok(['topology', 'enable'])
    for (const site of SITES) web.set(site, await startWebServer(system, serverOf(site), poolOf(site)))
    for (const w of web.values()) await w.start({ enrol: true })
    const kvno = await system.kvnoOf(SAM)
    await system
      .eventually(
        async () => (await Promise.all(SITES.map((s) => holds(s, kvno)))).every(Boolean),
        'every agent installed the first key through its leaf',
      )
      .catch((err) => {
        const tails = [...web.values()].map(
          (w) => `${w.server}:\n${w.output().split('\n').slice(-8).join('\n')}`,
        )
        throw new Error(`${err.message}\n${tails.join('\n')}`)
      })
    await login(system, 'before', 'alice', userPassword)
    await login(system, 'tgt', 'alice', userPassword)
  })
  after(async () => {
    for (const w of web.values()) await w.close().catch(() => {})
    await system?.stop()
  })

  it('runs on three hubs with R3 streams and buckets; each agent is on its site leaf as its own user over TLS', async () => {
    const { jsm } = system.bus
    for (const name of [
      streams.events.name,
      streams.heartbeats.name,
      ...Object.values(buckets).map((b) => `KV_${b.bucket}`),
    ]) {
      const info = await jsm.streams.info(name)
      assert.equal(info.config.num_replicas, 3, `${name} has 3 replicas`)
      assert.equal(info.cluster?.replicas?.length, 2, `${name}: a leader and two replicas`)
    }
    const routes = await global().hubs[0]!.monitor<{ num_routes: number }>('routez')
    assert.ok(routes.num_routes >= 2, `hub-1 is routed to the two others (${routes.num_routes})`)
    for (const site of SITES) {
      const connz = await global()
        .leaf(site)
        .monitor<{ connections: { authorized_user?: string; tls_version?: string }[] }>('connz?auth=true')
      assert.deepEqual(
        connz.connections.map((c) => c.authorized_user),
        [`agent-${agentToken(serverOf(site))}`],
        `only ${site}'s agent is connected to leaf-${site}`,
      )
      assert.ok(
        connz.connections.every((c) => c.tls_version),
        `leaf-${site}: its agent connected over TLS`,
      )
    }
    // No anonymous client, and no plaintext one, on a leaf.
    const leafUrl = global().deployment.leafUrl('paris')
    await assert.rejects(
      connect({ servers: leafUrl, tls: { caFile: global().deployment.caFile } }),
      /authorization/i,
      'an anonymous client is refused',
    )
    await assert.rejects(
      connect({ servers: leafUrl.replace('tls://', 'nats://'), tls: null, timeout: 2000 }),
      'a plaintext client is refused',
    )
  })

  it('a rotation of the account assigned to every site reaches every agent through its leaf, with no 401', async () => {
    const previous = await system.kvnoOf(SAM)
    const running = probe(SITES)
    await system.eventually(() => running.state.rounds >= 2, 'the probe runs')
    const result = await passwordSet()
    await running.stop()
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`)
    assert.deepEqual(running.state.failures, [], 'every answer 200 during the rotation')
    assert.match(result.stderr, /applied 3\/3 {2}\(dublin 1\/1, paris 1\/1, tokyo 1\/1\)/)
    for (const site of SITES) assert.deepEqual(await webOf(site).kvnos(), [previous, previous + 1], site)
    const rotation = await latest()
    assert.equal(rotation.state, 'done')
    assert.equal(rotation.pendingSites, undefined)
    assert.deepEqual(
      (await ofType(CredentialApplied.type, rotation.rotationId))
        .map((e) => (e.data as { server: string }).server)
        .sort(),
      SITES.map(serverOf),
    )
  })

  it("a site's leaf node killed during a rotation: the others finish, the site is pending, and it catches up within 5 s of its return", async () => {
    const previous = await system.kvnoOf(SAM)
    const leaf = global().leaf('tokyo')
    const running = probe(['dublin', 'paris'])
    await system.eventually(() => running.state.rounds >= 2, 'the probe runs')
    // Frozen first, so that the rotation starts while tokyo's agent still counts as online (its last
    // heartbeat is recent) and cannot stage before the leaf dies; killed once the rotation runs.
    await leaf.signal('SIGSTOP')
    const outcome = passwordSet()
    await system.eventually(async () => (await latest()).kvno === previous + 1, 'the rotation started')
    const started = await latest()
    assert.equal(started.state, 'staging')
    assert.equal(
      started.targets.find((t) => t.site === 'tokyo')?.online,
      true,
      'tokyo was online when it planned',
    )
    await leaf.sigkill()
    const result = await outcome
    await running.stop()

    assert.equal(result.code, 1, `a site left behind: exit 1\n${result.stdout}\n${result.stderr}`)
    assert.match(
      result.stdout,
      /pending sites, offline \(they catch up when they return\): tokyo \(fe01\.tokyo\.corp\.example\.com\)/,
    )
    const rotation = await latest()
    assert.equal(rotation.state, 'done')
    assert.deepEqual(rotation.pendingSites, ['tokyo'])
    assert.equal(await system.kvnoOf(SAM), previous + 1, 'AD has the new password')
    for (const site of ['dublin', 'paris'] as const)
      assert.ok(await holds(site, previous + 1), `${site} applied`)
    assert.equal(await holds('tokyo', previous + 1), false, 'tokyo is cut off: still the old key')
    assert.deepEqual(running.state.failures, [], 'no 401 on the other sites')
    assert.ok(running.state.rounds >= 2)

    // The leaf returns (up and linked to the hub again); nobody touches the agent.
    await leaf.start()
    await global().linked('tokyo')
    const back = Date.now()
    await system.eventually(() => holds('tokyo', previous + 1), 'tokyo applied the new key', 30_000)
    const caughtUpMs = Date.now() - back
    console.log(`# tokyo's agent applied kvno ${previous + 1} ${caughtUpMs} ms after its leaf returned`)
    assert.ok(
      caughtUpMs <= 5000,
      `the returning site applies within 5 s (took ${caughtUpMs} ms; back at ${new Date(back).toISOString()})\n${webOf('tokyo').output().split('\n').slice(-12).join('\n')}`,
    )
    assert.equal(await webOf('tokyo').negotiate(await freshCache()), 200, 'tokyo answers a new ticket')
    await system.eventually(
      async () => (await agentStatus(serverOf('tokyo')))?.lastApplied?.kvno === previous + 1,
      "tokyo's CredentialApplied reached the hub",
    )
    const after = await latest()
    assert.equal(after.pendingSites, undefined, 'the done rotation no longer names tokyo pending')
    assert.equal(after.counts?.applied, after.counts?.targets)
  })

  it('a leaf node restarted with its agent: the agent reconnects, resumes from its state and takes the next rotation', async () => {
    await jetStreamSettled()
    const dublin = webOf('dublin')
    const leaf = global().leaf('dublin')
    const enrolledAt = async () => {
      const { agents } = JSON.parse((await system.cli(['agent', 'list', '--json'], 'viewer')).stdout) as {
        agents: AgentRow[]
      }
      return agents.find((a) => a.server === serverOf('dublin'))
    }
    const enrolled = (await enrolledAt())?.enrolledAt
    assert.ok(enrolled, 'dublin is enrolled')
    await dublin.stop('SIGTERM')
    await leaf.restart()
    await dublin.start()
    await global().linked('dublin')
    const restarted = Date.now()
    await system.eventually(async () => {
      const status = await agentStatus(serverOf('dublin'))
      return status?.lastHeartbeat !== undefined && Date.parse(status.lastHeartbeat.at) > restarted
    }, "dublin's agent beats again through its leaf")
    assert.match(dublin.output(), /using the agent key pair from the key file/)
    const row = await enrolledAt()
    assert.equal(row?.enrolledAt, enrolled, 'the same enrolment: its key pair and no new token')
    assert.equal(row?.current, true, "it holds AD's current kvno")
    const previous = await system.kvnoOf(SAM)
    assert.ok(await holds('dublin', previous), 'the keytab it kept holds the current key')
    assert.equal(await dublin.negotiate(await freshCache()), 200)
    const result = await passwordSet()
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}\n${await problems()}`)
    for (const site of SITES) assert.ok(await holds(site, previous + 1), `${site} took the next rotation`)
    const cache = await freshCache()
    for (const site of SITES) assert.equal(await webOf(site).negotiate(cache), 200, site)
  })

  it('the hub leading the events stream SIGKILLed mid-rotation: the rotation completes, nothing acknowledged is lost, the hub rejoins and catches up', async () => {
    await jetStreamSettled()
    const previous = await system.kvnoOf(SAM)
    const { jsm } = system.bus
    const leaderName = (await jsm.streams.info(streams.events.name)).cluster?.leader
    const leader = global().hubs.find((h) => h.name === leaderName)
    assert.ok(leader, `the events stream has a leader (${leaderName})`)
    const before = (await jsm.streams.info(streams.events.name)).state.last_seq
    // paris's agent frozen: the rotation waits for it in staging, the window in which the hub dies.
    const paris = webOf('paris')
    paris.signal('SIGSTOP')
    const outcome = passwordSet()
    await system.eventually(async () => {
      const now = await latest()
      return now.kvno === previous + 1 && now.targets.filter((t) => t.staged).length === 2
    }, 'dublin and tokyo staged, paris awaited')
    await leader.sigkill()
    paris.signal('SIGCONT')
    const result = await outcome
    // The rotation completes (never aborts: two servers staged before the hub died). The fail-over
    // (new meta and stream leaders: raft waits 4-9 s per group, far longer on a loaded machine) may
    // outlast a deadline: the rotation then ends with servers pending or not applied in time, and they
    // catch up as JetStream returns: what counts is that every agent ends with the new kvno. The CLI
    // following it may itself give up while the console cannot read the rotation; the record decides.
    await system.eventually(
      async () => (await latest()).state === 'done',
      `the rotation completes (the CLI said: ${result.stdout}${result.stderr})`,
      120_000,
    )
    const rotation = await latest()
    console.log(`# password set during the fail-over exited ${result.code}`)
    const applied = rotation.targets.filter((t) => t.applied).length
    console.log(
      `# after the hub's SIGKILL: ${applied}/3 applied within the rotation; ${rotation.reason ?? 'nothing left'}`,
    )
    assert.equal(await system.kvnoOf(SAM), previous + 1)
    for (const site of SITES) {
      await system.eventually(
        () => holds(site, previous + 1),
        `${site}'s keytab holds kvno ${previous + 1}`,
        120_000,
      )
      await system.eventually(
        async () =>
          (await agentStatus(serverOf(site)))?.lastHeartbeat?.kvnos.some((k) => k.kvno === previous + 1) ===
          true,
        `the agents bucket has ${site}'s heartbeat holding kvno ${previous + 1}`,
        120_000,
      )
    }
    assert.equal(
      (await system.accountSecret(ACCOUNT)).kvno,
      previous + 1,
      "the accounts bucket has AD's kvno",
    )

    // Every event of the rotation once, and the stream's sequence without a hole.
    const id = rotation.rotationId
    const count = async (type: string) => (await ofType(type, id)).length
    assert.equal(await count(PasswordRotationStarted.type), 1)
    // PasswordRotated is owed by the account's record from the AD write on (its outbox): published
    // at once, or, when that publish fell into the stream's election, by the next sweep (15 s),
    // with the same id.
    await system.eventually(
      async () => (await count(PasswordRotated.type)) >= 1,
      'PasswordRotated published, at once or by the sweep',
      60_000,
    )
    assert.equal(await count(PasswordRotated.type), 1)
    // One report per server at most (a retried publish is stored once).
    for (const type of [CredentialStaged.type, CredentialApplied.type]) {
      const servers = (await ofType(type, id)).map((e) => (e.data as { server: string }).server)
      assert.equal(new Set(servers).size, servers.length, `${type}: once per server`)
    }
    const info = await jsm.streams.info(streams.events.name)
    assert.ok(info.state.last_seq > before)
    assert.equal(info.state.messages, info.state.last_seq - info.state.first_seq + 1, 'no sequence lost')

    // The killed hub comes back, rejoins the cluster and catches up with the stream.
    await leader.start()
    await system.eventually(async () => {
      const now = await jsm.streams.info(streams.events.name)
      const replica = [
        now.cluster?.leader,
        ...(now.cluster?.replicas ?? []).filter((r) => r.current).map((r) => r.name),
      ]
      return replica.includes(leader.name)
    }, `${leader.name} is a current replica of the events stream again`)
    /** The sequence the restarted hub's own copy of the events stream has reached (its /jsz). */
    const localSeq = async () => {
      const jsz = await leader.monitor<{
        account_details?: { stream_detail?: { name: string; state: { last_seq: number } }[] }[]
      }>('jsz?accounts=true&streams=true')
      return jsz.account_details
        ?.flatMap((a) => a.stream_detail ?? [])
        .find((s) => s.name === streams.events.name)?.state.last_seq
    }
    await system.eventually(
      async () => ((await localSeq()) ?? 0) >= info.state.last_seq,
      `${leader.name} caught up to sequence ${info.state.last_seq} in its own store`,
    )
    const cache = await freshCache()
    for (const site of SITES)
      assert.equal(await webOf(site).negotiate(cache), 200, `${site} after the hub's return`)
  })
})
