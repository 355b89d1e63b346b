/**
 * `npm run bench`: krbfleet's benchmarks. Prints a table (or `--json`). Bounded loop counts; it
 * starts its own nats-server and Samba DC on loopback (as root, like the integration tests) and
 * stops them; it stops by itself.
 *
 *   node bench/run.ts [--json] [--only crypto,topology,spn,nats,ldap,e2e,agent,fleet,scale,global]
 */
import { parseArgs } from 'node:util'
import { agentBenchmarks } from './agent.ts'
import { cryptoBenchmarks, spnBenchmarks, topologyBenchmarks } from './cpu.ts'
import { fleetBenchmarks } from './fleet.ts'
import { globalBenchmarks } from './global.ts'
import { type BenchResult, formatTable } from './measure.ts'
import { scaleBenchmarks } from './scale.ts'
import { e2eBenchmarks, ldapBenchmarks, natsBenchmarks } from './servers.ts'

const groups: Record<string, () => Promise<BenchResult[]>> = {
  crypto: cryptoBenchmarks,
  topology: topologyBenchmarks,
  spn: spnBenchmarks,
  nats: natsBenchmarks,
  ldap: ldapBenchmarks,
  e2e: e2eBenchmarks,
  agent: agentBenchmarks,
  fleet: fleetBenchmarks,
  scale: scaleBenchmarks,
  global: globalBenchmarks,
}

const { values } = parseArgs({
  options: { json: { type: 'boolean', default: false }, only: { type: 'string' }, help: { type: 'boolean' } },
})
if (values.help) {
  process.stdout.write(`usage: node bench/run.ts [--json] [--only ${Object.keys(groups).join(',')}]\n`)
  process.exit(0)
}
const selected = values.only ? values.only.split(',').map((g) => g.trim()) : Object.keys(groups)
const unknown = selected.filter((g) => !(g in groups))
if (unknown.length > 0) {
  process.stderr.write(
    `--only: unknown group ${unknown.join(', ')}; groups are ${Object.keys(groups).join(', ')}\n`,
  )
  process.exit(2)
}

const results: BenchResult[] = []
const started = Date.now()
for (const group of selected) {
  if (!values.json) process.stderr.write(`running ${group} ...\n`)
  results.push(...(await groups[group]!()))
}
const machine = {
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  cpus: (await import('node:os')).availableParallelism(),
  totalSeconds: Math.round((Date.now() - started) / 100) / 10,
}
if (values.json) {
  process.stdout.write(`${JSON.stringify({ machine, results }, null, 2)}\n`)
} else {
  process.stdout.write(`${formatTable(results)}\n\n`)
  process.stdout.write(
    `node ${machine.node}, ${machine.platform}, ${machine.cpus} cpus, ${machine.totalSeconds} s\n`,
  )
}
// Servers are stopped; pino's async destinations or a lingering socket must not keep us alive.
process.exit(0)
