/**
 * The global fleet (issue 15): N real agents (the iis-agent code, keytab backend, many in this
 * process, each with its own key pair and NATS connection as its own user) spread over S sites, each
 * site's agents on that site's leaf node, against deploy/nats's hub cluster of three nats-servers
 * (JetStream R3), the real account service as its own process and a real Samba DC
 * (test/support/system.ts `global`). One account is assigned to every site.
 *
 * `password set` on it, RUNS times: ms from the request to the last CredentialApplied of the new
 * kvno over all sites, and per site (to its last agent's report), p50 over the sites.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { connectBus } from '@krbfleet/bus'
import { CredentialApplied, type EventEnvelope, type TopologyDocument } from '@krbfleet/contracts'
import { AgentConfig, resolveAgentConfig, startAgent } from '@krbfleet/iis-agent'
import { silentLogger } from '@krbfleet/logging'
import { loadConfig } from '@krbfleet/runtime'
import { sitesTopology } from '@krbfleet/testing/topology'
import { type System, startSystem } from '../test/support/system.ts'
import { prepareAgentFolder } from './agent-folder.ts'
import { converged, type FleetAgent, kvnoOf, passwordSet, rotationEnded, stopFleet } from './fleet.ts'
import { type BenchResult, stats } from './measure.ts'

const ACCOUNT = 'CORP\\KERBGLOBAL'
const RUNS = 3
const START_BATCH = 8
const goal = { agents: 10_000, sites: 50 }

/** `KRBFLEET_BENCH_GLOBAL=agents:sites` (default 1000:50; the goal is 10000:50). */
export function globalSize(): { agents: number; sites: number } {
  const [agents, sites] = (process.env.KRBFLEET_BENCH_GLOBAL ?? '1000:50').split(':').map(Number)
  if (!agents || !sites || agents < sites)
    throw new Error('KRBFLEET_BENCH_GLOBAL must be agents:sites, agents >= sites')
  return { agents, sites }
}

const progress = (line: string) => process.stderr.write(`  global: ${line}\n`)

function globalTopology(agents: number, sites: number): TopologyDocument {
  const names = Array.from({ length: sites }, (_, i) => `site${String(i + 1).padStart(2, '0')}`)
  return sitesTopology(
    ACCOUNT,
    names.map((site, s) => ({
      site,
      servers: Array.from({ length: Math.ceil((agents - s) / sites) }, (_, k) => {
        const i = k * sites + s
        return `fe${String(i + 1).padStart(5, '0')}.${site}.corp.example.com`
      }),
    })),
  )
}

export async function globalBenchmarks(): Promise<BenchResult[]> {
  const { agents: n, sites } = globalSize()
  const topology = globalTopology(n, sites)
  const work = await mkdtemp(join(tmpdir(), 'krbfleet-bench-global-'))
  progress(`starting 3 hubs, ${sites} leaf nodes, the DC and the services`)
  // A rotation's stage and apply deadlines sized for the fleet, as its operator would set them (the
  // defaults, 30 s and 60 s, suit hundreds of servers, not thousands on two cores).
  const deadlineMs = String(Math.max(60_000, n * 30))
  const system = await startSystem({
    global: { topology },
    accountProcess: {
      env: {
        KRBFLEET_ACCOUNT_ROTATION_STAGE_TIMEOUT_MS: deadlineMs,
        KRBFLEET_ACCOUNT_ROTATION_APPLY_TIMEOUT_MS: deadlineMs,
      },
    },
  })
  const agents: FleetAgent[] = []
  try {
    const ok = async (method: string, path: string, body?: unknown) => {
      const r = await system.api(method, path, body === undefined ? {} : { body })
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`)
    }
    const created = await system.cli(['account', 'new', ACCOUNT])
    if (created.code !== 0) throw new Error(`account new: ${created.stderr}`)
    const { agents: _none, ...document } = topology
    await ok('POST', '/v1/topology/apply', { document })
    await ok('POST', '/v1/topology/enable')
    progress(`starting ${n} agents on their sites' leaves`)
    const deployment = system.global!.deployment
    const siteOf = new Map(
      topology.servers.map((s) => [s.fqdn, topology.pools.find((p) => p.fqdn === s.pool)!.site]),
    )
    const start = async (server: string): Promise<FleetAgent> => {
      const env = await prepareAgentFolder({
        bus: system.bus,
        natsUrl: 'unused',
        signer: system.signer,
        work,
        server,
      })
      const config = resolveAgentConfig(
        loadConfig(AgentConfig, { env: { ...env, KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: '60000' } }),
      )
      const bus = await connectBus({
        ...deployment.agentOptions(server),
        name: `agent-${server}`,
        logger: silentLogger(),
        // As the agent's service manager would restart it: a leaf too busy to answer within the
        // connect timeout (thousands of agents arriving) is tried again, not a failed benchmark.
        waitOnFirstConnect: true,
      })
      const agent = await startAgent({
        bus,
        logger: silentLogger(),
        config,
        enrolBackoff: { initialMs: 50, maxMs: 2000 },
      })
      await agent.enrolment.enrolled
      return { server, bus, agent }
    }
    const t0 = performance.now()
    const servers = topology.servers.map((s) => s.fqdn)
    for (let i = 0; i < servers.length; i += START_BATCH) {
      agents.push(...(await Promise.all(servers.slice(i, i + START_BATCH).map(start))))
      if (agents.length % 500 === 0) progress(`${agents.length} agents enrolled`)
    }
    const enrolMs = performance.now() - t0
    await converged(system, agents, ACCOUNT)

    const totals: number[] = []
    const perSite: number[] = []
    for (let run = 0; run < RUNS; run++) {
      const r = await rotation(system, siteOf)
      totals.push(r.totalMs)
      perSite.push(...r.siteMs)
      progress(
        `rotation ${run + 1}/${RUNS}: ${r.totalMs.toFixed(0)} ms to all ${sites} sites, site p50 ${stats(r.siteMs).p50Ms.toFixed(0)} ms`,
      )
    }
    const t = stats(totals)
    const s = stats(perSite)
    const atGoal = n >= goal.agents && sites >= goal.sites
    return [
      {
        group: 'global',
        name: `password set -> last CredentialApplied, ${n} agents over ${sites} sites (leaf nodes)`,
        n: RUNS,
        value: Math.round(t.p50Ms),
        unit: 'ms',
        p50Ms: t.p50Ms,
        maxMs: t.maxMs,
        note: `max ${t.maxMs.toFixed(0)} ms; ${((t.p50Ms / n) * 1000).toFixed(0)} us/agent; goal ${goal.agents} agents over ${goal.sites} sites: ${atGoal ? 'run at goal size' : 'NOT RUN at goal size (KRBFLEET_BENCH_GLOBAL)'}`,
      },
      {
        group: 'global',
        name: `per site: password set -> the site's last CredentialApplied, ${sites} sites`,
        n: perSite.length,
        value: Math.round(s.p50Ms),
        unit: 'ms',
        p50Ms: s.p50Ms,
        maxMs: s.maxMs,
        note: `p50 over ${sites} sites x ${RUNS} rotations; max ${s.maxMs.toFixed(0)} ms`,
      },
      {
        group: 'global',
        name: `enrolment of ${n} agents through ${sites} leaf nodes`,
        n: 1,
        value: Math.round(enrolMs),
        unit: 'ms',
        note: `${((n / enrolMs) * 1000).toFixed(0)} agents/s, ${START_BATCH} at once`,
      },
    ]
  } finally {
    await stopFleet(system, agents, work)
  }
}

/** One rotation: ms from the request to the last CredentialApplied, overall and per site. */
async function rotation(
  system: System,
  siteOf: Map<string, string>,
): Promise<{ totalMs: number; siteMs: number[] }> {
  const before = await kvnoOf(system, ACCOUNT)
  const at = new Map<string, number>()
  let done: () => void = () => {}
  const all = new Promise<void>((r) => {
    done = r
  })
  const sub = system.bus.nc.subscribe(CredentialApplied.subjects, {
    callback: (err, msg) => {
      if (err) return
      const data = msg.json<EventEnvelope>().data as { server: string; account: string; kvno: number }
      if (data.account !== ACCOUNT || data.kvno <= before || at.has(data.server)) return
      at.set(data.server, performance.now())
      if (at.size === siteOf.size) done()
    },
  })
  await system.bus.nc.flush()
  const t0 = performance.now()
  const rotationId = await passwordSet(system, ACCOUNT)
  const timer = setTimeout(done, 600_000)
  await all
  clearTimeout(timer)
  sub.unsubscribe()
  if (at.size < siteOf.size)
    throw new Error(`${siteOf.size - at.size} of ${siteOf.size} agents never applied`)
  await rotationEnded(system, rotationId, 300_000)
  const last = new Map<string, number>()
  for (const [server, ms] of at) {
    const site = siteOf.get(server)!
    last.set(site, Math.max(last.get(site) ?? 0, ms - t0))
  }
  return { totalMs: Math.max(...at.values()) - t0, siteMs: [...last.values()] }
}
