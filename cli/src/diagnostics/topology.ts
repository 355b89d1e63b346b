import type {
  AccountCheck,
  AccountView,
  AgentRow,
  BusHealth,
  CheckStatus,
  SpnDuplicates,
} from '@krbfleet/contracts'

/**
 * Test-CsTopology, pure: every site with pools has a Kerberos account assigned (or is marked NTLM only
 * on purpose: named, not counted against it); no SPN is held by
 * two objects; every server has an enrolled agent that reported recently and holds AD's kvno; the
 * events stream within its limits and every durable consumer keeping up (lag shown); RC4 readiness:
 * every managed account is AES only (RC4 bit clear) and no account of the fleet is left without
 * msDS-SupportedEncryptionTypes (AD would then pick RC4 for its tickets).
 */

export interface TopologyFacts {
  sites: Array<{ name: string; pools: number; servers: number; account?: string; ntlmOnly?: boolean }>
  duplicates: SpnDuplicates['duplicates']
  agents: Array<AgentRow & { current?: boolean }>
  accounts: AccountView[]
  now: Date
  /** The events stream and its durable consumers (GET /v1/bus). */
  bus: BusHealth
  /** An agent whose last heartbeat is older than this is not live (default 3 minutes). */
  liveWithinMs?: number
  /** A consumer with more events than this not yet delivered is lagging (default 1000). */
  maxLag?: number
}

export interface TopologyReport {
  outcome: CheckStatus
  checks: AccountCheck[]
}

const order: CheckStatus[] = ['pass', 'unknown', 'warn', 'fail']
const worst = (statuses: CheckStatus[]): CheckStatus =>
  statuses.reduce<CheckStatus>((a, b) => (order.indexOf(b) > order.indexOf(a) ? b : a), 'pass')
const named = (items: string[]) =>
  items.length > 8 ? `${items.slice(0, 8).join(', ')} and ${items.length - 8} more` : items.join(', ')
const RC4 = 0x4

export function topologyReport(facts: TopologyFacts): TopologyReport {
  const checks: AccountCheck[] = []
  const withPools = facts.sites.filter((s) => s.pools > 0)
  const unassigned = withPools.filter((s) => !s.account && !s.ntlmOnly).map((s) => s.name)
  const ntlmOnly = withPools.filter((s) => s.ntlmOnly).map((s) => s.name)
  const marked = ntlmOnly.length > 0 ? `; marked NTLM only on purpose: ${named(ntlmOnly)}` : ''
  checks.push(
    unassigned.length === 0
      ? {
          check: 'assignments',
          status: 'pass',
          detail: `every site with pools has a Kerberos account${marked}`,
        }
      : {
          check: 'assignments',
          status: 'fail',
          detail: `sites with pools and no Kerberos account (they fall back to NTLM): ${named(unassigned)}${marked}`,
        },
  )
  checks.push(
    facts.duplicates.length === 0
      ? { check: 'spn-duplicates', status: 'pass', detail: 'no SPN is held by two objects' }
      : {
          check: 'spn-duplicates',
          status: 'fail',
          detail: named(facts.duplicates.map((d) => `${d.spn} on ${d.holders.length} objects`)),
        },
  )
  const within = facts.liveWithinMs ?? 180_000
  const unenrolled = facts.agents.filter((a) => !a.enrolled).map((a) => a.server)
  const silent = facts.agents
    .filter(
      (a) => a.enrolled && (!a.lastHeartbeat || facts.now.getTime() - Date.parse(a.lastHeartbeat) > within),
    )
    .map((a) => a.server)
  const behind = facts.agents
    .filter((a) => a.enrolled && a.account && a.current === false)
    .map((a) => a.server)
  const agentProblems = [
    unenrolled.length > 0 ? `no agent enrolled: ${named(unenrolled)}` : '',
    silent.length > 0 ? `no heartbeat for ${within / 1000} s: ${named(silent)}` : '',
    behind.length > 0 ? `behind AD's kvno: ${named(behind)}` : '',
  ].filter((p) => p !== '')
  checks.push(
    agentProblems.length === 0
      ? {
          check: 'agents',
          status: 'pass',
          detail: `${facts.agents.length} server(s), each with a live agent holding AD's kvno`,
        }
      : { check: 'agents', status: 'fail', detail: agentProblems.join('; ') },
  )
  checks.push(busCheck(facts.bus, facts.maxLag ?? 1000))
  const managed = facts.accounts.filter((a) => a.managed)
  const noTypes = facts.accounts
    .filter((a) => a.existsInDirectory && a.encryptionTypes === null)
    .map((a) => a.account)
  const rc4 = managed
    .filter((a) => a.encryptionTypes !== null && (a.encryptionTypes & RC4) !== 0)
    .map((a) => a.account)
  checks.push(
    noTypes.length + rc4.length === 0
      ? {
          check: 'rc4-readiness',
          status: 'pass',
          detail: `${managed.length} managed account(s), all AES only; every account of the fleet sets msDS-SupportedEncryptionTypes`,
        }
      : {
          check: 'rc4-readiness',
          status: 'fail',
          detail: [
            noTypes.length > 0 ? `no msDS-SupportedEncryptionTypes: ${named(noTypes)}` : '',
            rc4.length > 0 ? `RC4 allowed: ${named(rc4)}` : '',
          ]
            .filter((p) => p !== '')
            .join('; '),
        },
  )
  return { outcome: worst(checks.map((c) => c.status)), checks }
}

/**
 * The bus: the events stream under 90 % of its byte and message limits; each durable consumer with
 * its lag (fail when its unacknowledged events reach its max_ack_pending: it receives nothing more;
 * warn when more than `maxLag` events wait for it).
 */
export function busCheck(bus: BusHealth, maxLag: number): AccountCheck {
  const full = bus.streams.flatMap((s) => {
    const share = Math.max(
      s.maxBytes > 0 ? s.bytes / s.maxBytes : 0,
      s.maxMessages > 0 ? s.messages / s.maxMessages : 0,
    )
    return share >= 0.9 ? [`${s.name} at ${Math.round(share * 100)} % of its limit`] : []
  })
  const stalled = bus.consumers.filter((c) => c.maxAckPending > 0 && c.ackPending >= c.maxAckPending)
  const lagging = bus.consumers.filter((c) => c.pending > maxLag && !stalled.includes(c))
  const streams = bus.streams.map((s) => `${s.name} ${s.messages} events`).join(', ')
  const lags = bus.consumers.map((c) => `${c.durable} lag ${c.pending}/${c.ackPending} unacked`).join(', ')
  const status: CheckStatus = stalled.length > 0 ? 'fail' : full.length + lagging.length > 0 ? 'warn' : 'pass'
  const problems = [
    ...full,
    ...stalled.map((c) => `${c.durable} stalled: ${c.ackPending} unacknowledged (max ${c.maxAckPending})`),
    ...lagging.map((c) => `${c.durable} ${c.pending} events behind (more than ${maxLag})`),
  ]
  return {
    check: 'bus',
    status,
    detail: [problems.join('; '), `${streams}; ${lags || 'no durable consumer'}`]
      .filter((p) => p)
      .join(' -- '),
  }
}
