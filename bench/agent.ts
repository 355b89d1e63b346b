/**
 * The agent's footprint (issue 11: at most 80 MB RSS at idle): the agent as a web server runs it
 * (`npm run build:agent`, one bundled file), enrolled with its one-time token, its credential
 * installed in a keytab, then left alone for a while with heartbeats going. RSS is read from
 * /proc/<pid>/status once a second (VmRSS; the highest sample is the figure). The workspace sources
 * (Node's type stripping, every module loaded on its own) are measured the same way for comparison.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { callRpc, connectBus } from '@krbfleet/bus'
import { agentToken, buckets, subjects, TopologyOperation } from '@krbfleet/contracts'
import { readKeytabFile } from '@krbfleet/kerberos'
import { silentLogger } from '@krbfleet/logging'
import { generateSignerKeyPair, importPublicKey, keyIdOf } from '@krbfleet/sealing'
import { freePort, startNats } from '@krbfleet/testing'
import { startTopology } from '@krbfleet/topology'
import { agentNodeFlags, buildAgent } from '../services/iis-agent/build.ts'
import { issueCredential } from '../services/iis-agent/test/helpers.ts'
import { prepareAgentFolder } from './agent-folder.ts'
import type { BenchResult } from './measure.ts'

const IDLE_SECONDS = 20
const GOAL_MB = 80
const admin = { actor: 'user:bench' }

export async function agentBenchmarks(): Promise<BenchResult[]> {
  const work = await mkdtemp(join(tmpdir(), 'krbfleet-bench-agent-'))
  const nats = await startNats({ dir: work })
  const bus = await connectBus({ servers: nats.url, name: 'bench', logger: silentLogger() })
  const topology = await startTopology({ bus, logger: silentLogger(), catchUpIntervalMs: 0 })
  const signer = generateSignerKeyPair()
  try {
    for (const def of Object.values(buckets)) await bus.kv(def)
    await callRpc(bus, 'topology', TopologyOperation.SiteAdd, { name: 'paris' }, admin)
    await callRpc(
      bus,
      'topology',
      TopologyOperation.PoolAdd,
      { fqdn: 'pool01.corp.example.com', site: 'paris' },
      admin,
    )
    const bundle = await buildAgent(join(work, 'iis-agent.mjs'))
    const results: BenchResult[] = []
    const runs: Array<[string, string[]]> = [
      [`bundled (npm run build:agent), node ${agentNodeFlags.join(' ')}`, [...agentNodeFlags, bundle]],
      [
        'workspace sources (type stripping)',
        [join(import.meta.dirname, '..', 'services', 'iis-agent', 'src', 'main.ts')],
      ],
    ]
    for (const [i, [what, args]] of runs.entries()) {
      const server = `fe0${i + 1}.corp.example.com`
      await callRpc(
        bus,
        'topology',
        TopologyOperation.ServerAdd,
        { fqdn: server, pool: 'pool01.corp.example.com', backend: 'keytab' },
        admin,
      )
      const samples = await idleRss({ work, server, args, natsUrl: nats.url, signer, bus })
      const max = Math.max(...samples)
      const sorted = [...samples].sort((a, b) => a - b)
      results.push({
        group: 'agent',
        name: `agent idle RSS, ${what}`,
        n: samples.length,
        value: max,
        unit: 'MB',
        note: `highest of ${samples.length} samples over ${IDLE_SECONDS} s (median ${sorted[Math.floor(sorted.length / 2)]} MB); keytab backend, credential installed${i === 0 ? `; goal <= ${GOAL_MB} MB: ${max <= GOAL_MB ? 'met' : 'MISSED'}` : ''}`,
      })
    }
    return results
  } finally {
    await topology.stop()
    await bus.close()
    await nats.stop()
    await rm(work, { recursive: true, force: true })
  }
}

async function idleRss(options: {
  work: string
  server: string
  /** Node's arguments: flags, then the agent's entry point. */
  args: string[]
  natsUrl: string
  signer: ReturnType<typeof generateSignerKeyPair>
  bus: Awaited<ReturnType<typeof connectBus>>
}): Promise<number[]> {
  const { work, server, bus } = options
  const settings = await prepareAgentFolder({
    bus,
    natsUrl: options.natsUrl,
    signer: options.signer,
    work,
    server,
  })
  const httpPort = await freePort()
  const keytab = settings.KRBFLEET_AGENT_KEYTAB!
  const child: ChildProcess = spawn(process.execPath, options.args, {
    env: {
      ...settings,
      PATH: process.env.PATH ?? '',
      KRBFLEET_HTTP_HOST: '127.0.0.1',
      KRBFLEET_HTTP_PORT: String(httpPort),
      KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: '2000',
    },
    stdio: ['ignore', 'ignore', 'ignore'],
  })
  try {
    await until(
      `${server} enrolled`,
      async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null))?.status === 200,
    )
    const { topology } = await callRpc<{
      topology: { agents: Array<{ server: string; encryptionKey: string }> }
    }>(bus, 'topology', TopologyOperation.TopologyGet, {}, admin)
    const recipient = importPublicKey(
      topology.agents.find((a) => a.server === server)?.encryptionKey ?? '',
      'x25519',
    )
    const credentials = await bus.kv(buckets.credentials)
    await credentials.put(
      agentToken(server),
      JSON.stringify(
        issueCredential({
          server,
          account: 'CORP\\KERBAUTH',
          kvno: 2,
          to: { publicKey: recipient, keyId: keyIdOf(recipient) },
          by: options.signer,
        }),
      ),
    )
    bus.nc.publish(subjects.agentCredential(server))
    await until(
      `${server} holds its key`,
      async () => (await readKeytabFile(keytab).catch(() => [])).length > 0,
    )
    const samples: number[] = []
    for (let s = 0; s < IDLE_SECONDS; s++) {
      await new Promise((r) => setTimeout(r, 1000))
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8')
      const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1])
      samples.push(Math.round(kb / 102.4) / 10)
    }
    return samples
  } finally {
    child.kill('SIGTERM')
  }
}

async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`bench agent: ${what} did not happen within 30 s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
