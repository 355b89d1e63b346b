/**
 * Group `scale` (issue 16): the topology at fleet size, through the real topology service (in this
 * process, as test/support/system.ts runs it), spn-sync as its own process, nats-server and the DC.
 * 20,000 servers in 100 pools over 20 sites are applied in one change, an agent is enrolled for
 * each (token issued, then used, 8 at a time), the topology is enabled, and the time until every
 * pool's SPN is in AD is measured; then a reader that has never seen the bucket reads it.
 */
import { performance } from 'node:perf_hooks'
import { silentLogger } from '@krbfleet/logging'
import { TopologyStore } from '@krbfleet/topology-store'
import { AgentEnrolments } from '../services/topology/src/enrolment/enrolment.ts'
import { enrolFleet, fleet } from '../services/topology/test/fleet.ts'
import { startSystem } from '../test/support/system.ts'
import { type BenchResult, rateRow } from './measure.ts'

const SERVERS = 20_000
const SITES = 20
const POOLS_PER_SITE = 5
const ENROLLING_AT_ONCE = 8
const ACCOUNT = 'CORP\\KERBFLT'

const progress = (line: string) => process.stderr.write(`  scale: ${line}\n`)

export async function scaleBenchmarks(): Promise<BenchResult[]> {
  const system = await startSystem()
  const results: BenchResult[] = []
  const row = (name: string, value: number, unit: string, note?: string): BenchResult => ({
    group: 'scale',
    name,
    n: 1,
    value: Math.round(value),
    unit,
    ...(note ? { note } : {}),
  })
  try {
    const created = await system.cli(['account', 'new', ACCOUNT])
    if (created.code !== 0) throw new Error(`account new: ${created.stderr}`)
    const { service } = system.topology
    const kv = await system.bus.kv(TopologyStore.bucket)
    const f = fleet({ servers: SERVERS, sites: SITES, poolsPerSite: POOLS_PER_SITE, account: ACCOUNT })

    let started = performance.now()
    const applied = await service.change(
      { type: 'applyDocument', document: f.document },
      { actor: 'user:bench' },
    )
    const applyMs = performance.now() - started
    progress(`applied ${SERVERS} servers in ${applyMs.toFixed(0)} ms`)
    results.push(
      row(
        `topology apply of ${SERVERS.toLocaleString('en-US')} servers (one change, every event published)`,
        applyMs,
        'ms',
        `${(applied.changes.length + (applied.changesOmitted ?? 0)).toLocaleString('en-US')} events published, ${applied.changes.length} listed in the answer; 256 acknowledgements outstanding`,
      ),
    )

    started = performance.now()
    const conflicts = await enrolFleet(
      new AgentEnrolments({ kv, service, logger: silentLogger() }),
      f,
      ENROLLING_AT_ONCE,
    )
    const enrolMs = performance.now() - started
    progress(`enrolled ${SERVERS} agents in ${(enrolMs / 1000).toFixed(1)} s`)
    results.push(
      rateRow(
        'scale',
        `agent enrolment (token issued, then used), ${ENROLLING_AT_ONCE} at once, into a fleet growing to ${SERVERS.toLocaleString('en-US')}`,
        SERVERS,
        enrolMs,
        'agents/s',
        `${conflicts} lost the race for a change and retried; each enrolment stores one record of a few hundred bytes`,
      ),
    )

    started = performance.now()
    const enabled = await service.enable({ actor: 'user:bench' })
    const wanted = f.spns
    const deadline = Date.now() + 300_000
    for (;;) {
      const spns = new Set((await system.spnsOf('KERBFLT$')).map((s) => s.toLowerCase()))
      if (wanted.every((w) => spns.has(w))) break
      if (Date.now() > deadline) throw new Error('the fleet SPNs never all appeared')
      await new Promise((r) => setTimeout(r, 20))
    }
    const spnMs = performance.now() - started
    progress(`enable ${enabled.enabledRevision} -> ${wanted.length} SPNs in AD in ${spnMs.toFixed(0)} ms`)
    results.push(
      row(
        `topology enable -> every SPN in AD (${wanted.length} pools, ${SERVERS.toLocaleString('en-US')} servers and agents)`,
        spnMs,
        'ms',
      ),
    )

    started = performance.now()
    const revision = await new TopologyStore(kv).readEnabled()
    const readMs = performance.now() - started
    if (revision?.topology.agents.length !== SERVERS) throw new Error('the enabled revision lacks agents')
    const info = await system.bus.jsm.streams.info(`KV_${TopologyStore.bucket.bucket}`)
    results.push(
      row(
        `first read of the enabled revision by a new reader (${SERVERS.toLocaleString('en-US')} servers and agents)`,
        readMs,
        'ms',
        `the bucket: ${info.state.messages.toLocaleString('en-US')} records, ${(info.state.bytes / 2 ** 20).toFixed(1)} MiB, ${Math.round(info.state.bytes / info.state.messages)} bytes each on average`,
      ),
    )
    return results
  } finally {
    await system.stop()
  }
}
