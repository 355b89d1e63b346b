import type {
  AccountTestReport,
  AccountView,
  AgentRow,
  BusHealth,
  SpnDuplicates,
  SpnPlan,
} from '@krbfleet/contracts'
import { assignmentHtml, assignmentReport, type ProbeResult } from '../diagnostics/assignment.ts'
import { type TopologyFacts, topologyReport } from '../diagnostics/topology.ts'
import { ExitCode, UsageError, type VerbContext, type VerbSpec } from '../framework.ts'
import { table } from '../output.ts'
import { accountPath } from './account.ts'

/** `.lab/servers.json`'s shape: where each server's web server listens. */
interface Endpoints {
  servers: Array<{ fqdn: string; web?: { address: string; port: number } | null }>
}

async function endpointsOf(ctx: VerbContext): Promise<Map<string, { address: string; port: number }>> {
  const file = ctx.options.endpoints
  if (typeof file !== 'string') return new Map()
  let parsed: Endpoints
  try {
    parsed = JSON.parse(await ctx.io.readFile(file)) as Endpoints
    if (!Array.isArray(parsed.servers)) throw new Error('no servers array')
  } catch (err) {
    throw new UsageError(`--endpoints ${file}: not a servers file (${(err as Error).message})`)
  }
  return new Map(parsed.servers.flatMap((s) => (s.web ? [[s.fqdn.toLowerCase(), s.web] as const] : [])))
}

/**
 * `krbfleet test assignment --site NAME [--endpoints FILE] [--report FILE.html]`: the checks of
 * diagnostics/assignment.ts, gathered from the console, and a live Negotiate probe of every server
 * of the site with a probe identity's ticket (`--probe-keytab F --probe-principal P`, kinit into a
 * private cache) or else the caller's own (kinit first): each server is asked for its pool's name
 * at its own address (its FQDN on port 80, or the address:port `--endpoints` gives, as
 * `.lab/servers.json` does). Exit 0 healthy, 1 problems found (named), 2 usage.
 */
export const testAssignment: VerbSpec = {
  summary:
    'test a site: assignment, account checks, SPN conflicts, every server holds AD kvno, live Negotiate 200',
  options: {
    site: { type: 'string', description: 'the site to test' },
    endpoints: {
      type: 'string',
      description: "a servers file giving each server's web address:port (.lab/servers.json)",
    },
    report: { type: 'string', description: 'also write the report as an HTML page to this file' },
    'probe-keytab': {
      type: 'string',
      description: "a probe identity's keytab: the probe asks with its ticket, not yours",
    },
    'probe-principal': { type: 'string', description: 'the probe identity in the keytab (user@REALM)' },
  },
  async run(ctx) {
    const site = ctx.options.site
    if (typeof site !== 'string') throw new UsageError('--site NAME is required')
    const keytab = ctx.options['probe-keytab']
    const principal = ctx.options['probe-principal']
    if ((typeof keytab === 'string') !== (typeof principal === 'string'))
      throw new UsageError('--probe-keytab and --probe-principal go together')
    const client = ctx.client()
    const endpoints = await endpointsOf(ctx)
    const { assignments } = await client.get<{ assignments: Array<{ site: string; account: string }> }>(
      '/v1/assignments',
      { site },
    )
    const account = assignments[0]?.account ?? null
    const [accountTest, plan, { agents }] = await Promise.all([
      account ? client.post<AccountTestReport>(`${accountPath(account)}/test`) : Promise.resolve(null),
      account ? client.get<SpnPlan>('/v1/spn/plan', { account }) : Promise.resolve(null),
      client.get<{ agents: Array<AgentRow & { adKvno: number | null; current: boolean }> }>('/v1/agents', {
        site,
      }),
    ])
    const probes = new Map<string, ProbeResult>()
    const negotiate = ctx.io.negotiate
    let probeIdentity = 'your own ticket (KRB5CCNAME)'
    if (negotiate) {
      const listed = typeof ctx.options.endpoints === 'string'
      let ticket: { ccache: string; dispose(): Promise<void> } | undefined
      if (typeof keytab === 'string' && typeof principal === 'string') {
        if (!ctx.io.probeTicket) throw new UsageError('--probe-keytab: this CLI cannot run kinit')
        ticket = await ctx.io.probeTicket(keytab, principal)
        probeIdentity = `${principal} (keytab ${keytab})`
      }
      try {
        await Promise.all(
          agents.map(async (row) => {
            // With a servers file, a server it gives no web endpoint (an iis server of the lab) is not probed.
            const at =
              endpoints.get(row.server.toLowerCase()) ??
              (listed ? undefined : { address: row.server, port: 80 })
            if (!at) return
            const answer = await negotiate(row.pool, at.address, at.port, ticket?.ccache)
            probes.set(row.server, { url: `http://${row.pool}:${at.port}/ at ${at.address}`, ...answer })
          }),
        )
      } finally {
        await ticket?.dispose()
      }
    }
    const report = assignmentReport({
      site,
      account,
      probeIdentity,
      accountTest,
      conflicts: plan?.accounts.flatMap((a) => a.conflicts) ?? [],
      agents,
      probes,
    })
    const file = ctx.options.report
    if (typeof file === 'string') {
      if (!ctx.io.writeFile) throw new UsageError('--report: this CLI cannot write files')
      await ctx.io.writeFile(file, assignmentHtml(report, new Date()))
    }
    ctx.print(report, () =>
      [
        `site ${report.site} (${report.account ?? 'no account'}): ${report.outcome}`,
        `probed as ${report.probeIdentity}`,
        table(report.checks as unknown as Record<string, unknown>[], [
          ['check', 'CHECK'],
          ['status', 'STATUS'],
          ['detail', 'DETAIL'],
        ]),
        '',
        table(report.servers as unknown as Record<string, unknown>[], [
          ['server', 'SERVER'],
          ['status', 'STATUS'],
          ['agent', 'KEY'],
          ['probe', 'NEGOTIATE'],
        ]),
        ...(typeof file === 'string' ? [`report written to ${file}`] : []),
      ].join('\n'),
    )
    return report.outcome === 'fail' ? ExitCode.Failed : ExitCode.Ok
  },
}

/**
 * `krbfleet test topology` (Test-CsTopology): diagnostics/topology.ts over the console's site list,
 * SPN duplicates (setspn -X), agent list and account list. Exit 0 healthy, 1 problems found.
 */
export const testTopology: VerbSpec = {
  summary:
    'test the whole topology: sites assigned, no SPN duplicates, every server a live agent at AD kvno, bus lag, AES only',
  options: {
    'max-lag': { type: 'string', description: 'events a consumer may be behind before a warning (1000)' },
  },
  async run(ctx) {
    const client = ctx.client()
    const [{ sites }, { duplicates }, { agents }, { accounts }, bus] = await Promise.all([
      client.get<{ sites: TopologyFacts['sites'] }>('/v1/sites', { source: 'enabled' }),
      client.get<SpnDuplicates>('/v1/spn/duplicates'),
      client.get<{ agents: TopologyFacts['agents'] }>('/v1/agents'),
      client.get<{ accounts: AccountView[] }>('/v1/accounts'),
      client.get<BusHealth>('/v1/bus'),
    ])
    const maxLag = maxLagOf(ctx.options['max-lag'])
    const report = topologyReport({
      sites,
      duplicates,
      agents,
      accounts,
      bus,
      now: new Date(),
      ...(maxLag === undefined ? {} : { maxLag }),
    })
    ctx.print(report, () =>
      [
        `topology: ${report.outcome}`,
        table(report.checks as unknown as Record<string, unknown>[], [
          ['check', 'CHECK'],
          ['status', 'STATUS'],
          ['detail', 'DETAIL'],
        ]),
      ].join('\n'),
    )
    return report.outcome === 'fail' ? ExitCode.Failed : ExitCode.Ok
  },
}

function maxLagOf(value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'string' && /^[0-9]{1,9}$/.test(value)) return Number(value)
  throw new UsageError('--max-lag must be a whole number of events from 0 to 999999999')
}
