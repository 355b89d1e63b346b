import type { AccountCheck, AccountTestReport, AgentRow, CheckStatus } from '@krbfleet/contracts'

/**
 * Test-CsKerberosAccountAssignment, answered plainly (and as a readable page): the site's
 * assignment, the account's own checks (account.test), SPN conflicts, and per server: the agent
 * holds AD's current kvno (Lync's InvalidKerberosConfiguration, named per server) and a live
 * Negotiate request to the server's web endpoint answers 200. Pure: the verb gathers, this judges.
 */

export interface ProbeResult {
  /** The URL asked, as the pool's name (what the browser asks for). */
  url: string
  /** The HTTP status, or null when nothing answered. */
  status: number | null
  detail?: string
}

export interface ServerReport {
  server: string
  pool: string
  status: CheckStatus
  agent: string
  probe: string
}

export interface AssignmentReport {
  site: string
  account: string | null
  /** Whose ticket the Negotiate probe used. */
  probeIdentity: string
  outcome: CheckStatus
  checks: AccountCheck[]
  servers: ServerReport[]
}

export interface AssignmentFacts {
  site: string
  account: string | null
  /** Whose ticket the Negotiate probe used (a probe identity, or the caller's own). */
  probeIdentity: string
  accountTest: AccountTestReport | null
  /** The account's SPNs held by other objects too (spn plan conflicts). */
  conflicts: Array<{ spn: string; holder: string }>
  /** The agent rows of the site's servers (agent.list, with AD's kvno). */
  agents: Array<AgentRow & { adKvno?: number | null; current?: boolean }>
  /** By server; absent when no probe was made. */
  probes: ReadonlyMap<string, ProbeResult>
}

const order: CheckStatus[] = ['pass', 'unknown', 'warn', 'fail']
const worst = (statuses: CheckStatus[]): CheckStatus =>
  statuses.reduce<CheckStatus>((a, b) => (order.indexOf(b) > order.indexOf(a) ? b : a), 'pass')

function agentOf(row: AssignmentFacts['agents'][number]): { status: CheckStatus; text: string } {
  if (!row.enrolled) return { status: 'fail', text: 'no agent enrolled (krbfleet agent token)' }
  const held = row.kvnos.map((k) => k.kvno)
  if (row.adKvno === null || row.adKvno === undefined)
    return { status: 'unknown', text: `holds ${held.join(',') || 'nothing'}; AD's kvno unknown` }
  if (!held.includes(row.adKvno))
    return {
      status: 'fail',
      text: `InvalidKerberosConfiguration: holds ${held.join(',') || 'nothing'}, AD has kvno ${row.adKvno}`,
    }
  return { status: 'pass', text: `holds AD's kvno ${row.adKvno}` }
}

function probeOf(probe: ProbeResult | undefined): { status: CheckStatus; text: string } {
  if (!probe) return { status: 'unknown', text: 'not probed' }
  if (probe.status === 200) return { status: 'pass', text: `200 from ${probe.url}` }
  const why = probe.detail ? ` (${probe.detail})` : ''
  return {
    status: 'fail',
    text: `${probe.status ?? 'no answer'} from ${probe.url}${why}`,
  }
}

export function assignmentReport(facts: AssignmentFacts): AssignmentReport {
  const checks: AccountCheck[] = []
  checks.push(
    facts.account
      ? { check: 'assignment', status: 'pass', detail: `site ${facts.site} is served by ${facts.account}` }
      : {
          check: 'assignment',
          status: 'fail',
          detail: `site ${facts.site} has no Kerberos account assigned`,
        },
  )
  if (facts.accountTest) checks.push(...facts.accountTest.checks)
  if (facts.account) {
    checks.push(
      facts.conflicts.length === 0
        ? {
            check: 'spn-conflicts',
            status: 'pass',
            detail: 'no SPN of the account is held by another object',
          }
        : {
            check: 'spn-conflicts',
            status: 'fail',
            detail: facts.conflicts
              .map((c) => `${c.spn} also on ${c.holder}`)
              .join('; ')
              .slice(0, 1000),
          },
    )
  }
  const servers = facts.agents.map((row) => {
    const agent = agentOf(row)
    const probe = probeOf(facts.probes.get(row.server))
    return {
      server: row.server,
      pool: row.pool,
      status: worst([agent.status, probe.status]),
      agent: agent.text,
      probe: probe.text,
    }
  })
  if (servers.length === 0)
    checks.push({ check: 'servers', status: 'warn', detail: `site ${facts.site} has no servers` })
  const outcome = worst([...checks.map((c) => c.status), ...servers.map((s) => s.status)])
  return {
    site: facts.site,
    account: facts.account,
    probeIdentity: facts.probeIdentity,
    outcome,
    checks,
    servers,
  }
}

const html = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  )

/** The report as one self-contained HTML page: checks, then one row per server, pass/fail colours. */
export function assignmentHtml(report: AssignmentReport, at: Date): string {
  const row = (cells: string[], status: CheckStatus) =>
    `<tr class="${status}">${cells.map((c) => `<td>${html(c)}</td>`).join('')}</tr>`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>krbfleet test assignment: ${html(report.site)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;min-width:60%}
th,td{border:1px solid #ccc;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
tr.pass td:first-child{border-left:6px solid #2e7d32}
tr.warn td:first-child,tr.unknown td:first-child{border-left:6px solid #f9a825}
tr.fail td:first-child{border-left:6px solid #c62828}
.outcome{display:inline-block;padding:.2em .7em;border-radius:1em;color:#fff;font-weight:600}
.outcome.pass{background:#2e7d32}.outcome.warn,.outcome.unknown{background:#f9a825}.outcome.fail{background:#c62828}
</style></head><body>
<h1>Site ${html(report.site)}: <span class="outcome ${report.outcome}">${report.outcome}</span></h1>
<p>Kerberos account: ${html(report.account ?? 'none')}. Tested ${html(at.toISOString())} by krbfleet test assignment; probed as ${html(report.probeIdentity)}.</p>
<h2>Checks</h2>
<table><tr><th>check</th><th>status</th><th>detail</th></tr>
${report.checks.map((c) => row([c.check, c.status, c.detail], c.status)).join('\n')}
</table>
<h2>Servers</h2>
<table><tr><th>server</th><th>pool</th><th>status</th><th>key</th><th>Negotiate probe</th></tr>
${report.servers.map((s) => row([s.server, s.pool, s.status, s.agent, s.probe], s.status)).join('\n')}
</table>
</body></html>
`
}
