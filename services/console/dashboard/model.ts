import type {
  AccountView,
  AgentRow,
  EventEnvelope,
  RotationView,
  SpnDuplicates,
  TopologyDocument,
} from '@krbfleet/contracts'
import { countsOf } from '@krbfleet/contracts/rotation-counts'

/**
 * What the dashboard shows, computed from what the console's API answers: the fleet as sites ->
 * pools -> servers (each server's kvno against AD's, and its health), the accounts, SPN conflicts,
 * a rotation's progress and one line per event. Pure: main.ts fetches and draws, this decides.
 */

/** An agent whose last heartbeat is older than this is offline (the account service's default too). */
export const onlineWithinMs = 90_000

export type ServerState = 'current' | 'behind' | 'failed' | 'offline' | 'not enrolled' | 'no account'

export interface ServerCard {
  fqdn: string
  backend: string
  state: ServerState
  /** The kvnos the server holds of its site's account. */
  held: number[]
  adKvno: number | null
  /** `12 s ago`, `never`. */
  lastSeen: string
  detail: string | undefined
}

export interface PoolCard {
  fqdn: string
  servers: ServerCard[]
}

export interface SiteCard {
  name: string
  /** The account assigned to the site; null: none (its pools get no Kerberos). */
  account: string | null
  /** Marked NTLM only on purpose (no account is expected). */
  ntlmOnly: boolean
  pools: PoolCard[]
  /** Servers by state, for the site's summary line. */
  counts: Partial<Record<ServerState, number>>
}

export interface Snapshot {
  topology: TopologyDocument
  agents: AgentRow[]
  accounts: AccountView[]
  duplicates: SpnDuplicates['duplicates']
  now: number
}

const byName =
  <T>(key: (t: T) => string) =>
  (a: T, b: T) =>
    key(a).localeCompare(key(b))

/** `5 s ago`, `3 min ago`, `2 h ago`, `4 d ago`. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86_400)} d ago`
}

function serverState(row: AgentRow | undefined, account: string | null, now: number): ServerState {
  if (!account) return 'no account'
  if (!row?.enrolled) return 'not enrolled'
  const seen = row.lastHeartbeat ? Date.parse(row.lastHeartbeat) : Number.NaN
  if (!(now - seen <= onlineWithinMs)) return 'offline'
  if (row.current) return 'current'
  const failure = row.lastFailure ? Date.parse(row.lastFailure.at) : 0
  const applied = row.lastApplied ? Date.parse(row.lastApplied.at) : 0
  return failure > applied || row.health?.ok === false ? 'failed' : 'behind'
}

/** The fleet as sites -> pools -> servers, sorted by name. */
export function siteTree(snapshot: Snapshot): SiteCard[] {
  const { topology, now } = snapshot
  const agents = new Map(snapshot.agents.map((a) => [a.server.toLowerCase(), a]))
  return [...topology.sites].sort(byName((s) => s.name)).map((site) => {
    const account =
      topology.assignments.find((a) => a.site.toLowerCase() === site.name.toLowerCase())?.account ?? null
    const counts: SiteCard['counts'] = {}
    const pools = topology.pools
      .filter((p) => p.site.toLowerCase() === site.name.toLowerCase())
      .sort(byName((p) => p.fqdn))
      .map((pool) => ({
        fqdn: pool.fqdn,
        servers: topology.servers
          .filter((s) => s.pool.toLowerCase() === pool.fqdn.toLowerCase())
          .sort(byName((s) => s.fqdn))
          .map((server): ServerCard => {
            const row = agents.get(server.fqdn.toLowerCase())
            const state = serverState(row, account, now)
            counts[state] = (counts[state] ?? 0) + 1
            const failure = state === 'failed' ? (row?.lastFailure?.reason ?? row?.health?.detail) : undefined
            return {
              fqdn: server.fqdn,
              backend: server.backend,
              state,
              held: (row?.kvnos ?? []).filter((k) => k.account === account).map((k) => k.kvno),
              adKvno: row?.adKvno ?? null,
              lastSeen: row?.lastHeartbeat ? age(now - Date.parse(row.lastHeartbeat)) : 'never',
              detail: failure,
            }
          }),
      }))
    return { name: site.name, account, ntlmOnly: site.ntlmOnly === true, pools, counts }
  })
}

export interface AccountCard {
  account: string
  kvno: number | null
  /** Whole days since AD last set the password; null when unknown. */
  passwordAgeDays: number | null
  spns: string[]
  /** AES only (no RC4, no DES) in msDS-SupportedEncryptionTypes. */
  aesOnly: boolean
  encryption: string
  nextRotation: string | null
  /** The sites assigned to it. */
  sites: string[]
  managed: boolean
}

const aes = /^aes(128|256)-/

export function accountCards(snapshot: Snapshot): AccountCard[] {
  return [...snapshot.accounts].sort(byName((a) => a.account)).map((a) => ({
    account: a.account,
    kvno: a.kvno,
    passwordAgeDays: a.passwordLastSet
      ? Math.floor((snapshot.now - Date.parse(a.passwordLastSet)) / 86_400_000)
      : null,
    spns: [...a.servicePrincipalNames].sort(),
    aesOnly: a.encryptionTypeNames.length > 0 && a.encryptionTypeNames.every((n) => aes.test(n)),
    encryption: a.encryptionTypeNames.join(', ') || 'not set',
    nextRotation: a.nextRotation ?? null,
    sites: snapshot.topology.assignments
      .filter((s) => s.account.toUpperCase() === a.account.toUpperCase())
      .map((s) => s.site)
      .sort(),
    managed: a.managed,
  }))
}

export interface Progress {
  total: number
  staged: number
  applied: number
  failed: number
  offline: number
  /** 0..100: staging is the first half of a rotation, activation the second. */
  percent: number
  finished: boolean
  /** `staging 3/4 staged`, `done: 4/4 applied`. */
  label: string
}

export function rotationProgress(view: RotationView): Progress {
  const counts = countsOf(view)
  const { targets: total, staged, applied, failed } = counts
  const offline = counts.sites.reduce((n, s) => n + s.offline, 0)
  const finished = view.state === 'done' || view.state === 'aborted'
  const share = (n: number) => (total === 0 ? 1 : n / total)
  const percent =
    view.state === 'aborted'
      ? 100
      : Math.round(100 * (view.state === 'staging' ? share(staged) / 2 : 0.5 + share(applied) / 2))
  const counted = view.state === 'staging' ? `${staged}/${total} staged` : `${applied}/${total} applied`
  return {
    total,
    staged,
    applied,
    failed,
    offline,
    percent: finished && view.state === 'done' ? 100 : Math.min(percent, 100),
    finished,
    label: `${view.state}: ${counted}${failed ? `, ${failed} failed` : ''}${offline ? `, ${offline} offline` : ''}`,
  }
}

export interface EventLine {
  seq: number
  time: string
  name: string
  text: string
  /** The rotation the event belongs to, when it is one of a rotation's. */
  rotationId: string | undefined
}

/** The data fields an operator reads first, in this order. */
const shown = [
  'account',
  'site',
  'pool',
  'server',
  'kvno',
  'spn',
  'action',
  'target',
  'outcome',
  'step',
  'reason',
]

/** One event as a line: its name, and its main fields as `field value`. */
export function eventLine(event: EventEnvelope & { seq: number }): EventLine {
  const data = (event.data ?? {}) as Record<string, unknown>
  const name = event.type.split('.').at(-2) ?? event.type
  const parts: string[] = []
  for (const field of shown) {
    const value = data[field]
    if (typeof value === 'string' || typeof value === 'number') parts.push(`${field} ${value}`)
    else if (field === 'pool' && value && typeof value === 'object' && 'fqdn' in value)
      parts.push(`pool ${String((value as { fqdn: unknown }).fqdn)}`)
  }
  const rotationId = typeof data.rotationId === 'string' ? data.rotationId : undefined
  const reportOf = rotationCorrelated.has(name) && event.correlationId ? event.correlationId : undefined
  return {
    seq: event.seq,
    time: event.occurredAt.slice(11, 19),
    name,
    text: parts.join(' · '),
    rotationId: rotationId ?? reportOf,
  }
}

/** Agent reports carry their rotation's id as correlation id (the saga's, issue 12). */
const rotationCorrelated = new Set(['CredentialStaged', 'CredentialApplied', 'CredentialApplyFailed'])
