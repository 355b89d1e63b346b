import type { CredentialPhase, TopologyDocument } from '@krbfleet/contracts'
import { type AccountRecord, stillRetiring } from './record.ts'

/**
 * Which credential each web server must hold (ARCHITECTURE.md, "iis-agent" and "The rotation
 * protocol"): the secret of the account its site is assigned in the ENABLED topology, sealed to
 * the key its agent enrolled: the confirmed one (active), or during a rotation the next one
 * (staged, held beside the active one until AD has it), with the replaced kvnos still kept for
 * tickets issued before. Given the enabled topology, what each account wants and what the
 * credentials bucket holds, the plan says what to issue and what to revoke. Level-triggered: the
 * same inputs give the same plan, so a repeated run after a crash or a missed event converges. Pure.
 */

/** What the servers of one account must hold now. */
export interface DesiredSecret {
  kvno: number
  phase: CredentialPhase
  /** Older kvnos kept beside it (their tickets are still valid). */
  keep: number[]
  /** The rotation in progress or the one that made this secret. */
  rotationId?: string | undefined
}

export interface HeldCredential {
  account: string
  kvno: number
  phase: CredentialPhase
  keep: number[]
  /** Key id of the agent key it was sealed to. */
  recipient: string
}

export interface Delivery extends DesiredSecret {
  server: string
  account: string
  /** The enrolled X25519 public key (base64url) to seal to. */
  encryptionKey: string
  /** Whether the sealed payload carries the password (the iis backend runs pools with it). */
  withPassword: boolean
}

export interface DeliveryPlan {
  issue: Delivery[]
  /** Servers whose credential goes: no longer in the topology, unassigned, or without an enrolled agent. */
  revoke: string[]
}

/** One server of the enabled topology with the account its site is assigned (undefined: none). */
export interface ServedServer {
  server: string
  pool: string
  site: string
  backend: 'iis' | 'keytab'
  account: string | undefined
  /** The enrolled agent's X25519 key; undefined before it enrols. */
  encryptionKey: string | undefined
}

/** Every server of the topology with its site's account and its agent's key. */
export function servedServers(topology: TopologyDocument | null): ServedServer[] {
  const pools = new Map((topology?.pools ?? []).map((p) => [p.fqdn, p]))
  const accounts = new Map((topology?.assignments ?? []).map((a) => [a.site, a.account]))
  const keys = new Map((topology?.agents ?? []).map((a) => [a.server, a.encryptionKey]))
  return (topology?.servers ?? []).map((s) => {
    const site = pools.get(s.pool)?.site ?? ''
    return {
      server: s.fqdn,
      pool: s.pool,
      site,
      backend: s.backend,
      account: accounts.get(site),
      encryptionKey: keys.get(s.fqdn),
    }
  })
}

const sameKvnos = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && [...a].sort().every((k, i) => k === [...b].sort()[i])

export function planDeliveries(
  topology: TopologyDocument | null,
  secrets: ReadonlyMap<string, DesiredSecret>,
  held: ReadonlyMap<string, HeldCredential>,
  keyIdOf: (encryptionKey: string) => string,
): DeliveryPlan {
  const issue: Delivery[] = []
  const wanted = new Set<string>()
  for (const served of servedServers(topology)) {
    const { server, account, encryptionKey } = served
    // No account (unassigned site) or no key to seal to: nothing to hold.
    if (account === undefined || encryptionKey === undefined) continue
    wanted.add(server)
    // No secret (being created, or its record unreadable now): what the server holds stays.
    const secret = secrets.get(account)
    if (secret === undefined) continue
    const current = held.get(server)
    const recipient = keyIdOf(encryptionKey)
    if (
      current &&
      current.account === account &&
      current.kvno === secret.kvno &&
      current.phase === secret.phase &&
      sameKvnos(current.keep, secret.keep) &&
      current.recipient === recipient
    )
      continue
    issue.push({
      server,
      account,
      ...secret,
      encryptionKey,
      withPassword: served.backend === 'iis',
    })
  }
  const revoke = [...held.keys()].filter((server) => !wanted.has(server)).sort()
  return { issue: issue.sort((a, b) => a.server.localeCompare(b.server)), revoke }
}

/**
 * What the servers of a record's account must hold at `now`, with the sealed secret it comes from:
 * during a rotation (a pending `rotate` secret) the next kvno, staged; otherwise the confirmed
 * secret, active. The replaced kvnos still within the ticket lifetime are kept. Undefined when the
 * account has no secret yet or its removal is decided.
 */
export function desiredSecret(
  record: AccountRecord,
  now: Date,
): { desired: DesiredSecret; sealed: string } | undefined {
  if (record.removing || !record.secret) return undefined
  const keep = stillRetiring(record, now).map((r) => r.kvno)
  const pending = record.pending
  if (pending?.operation === 'rotate') {
    // Each unicodePwd write moves msDS-KeyVersionNumber on by one (lab/NOTES.md).
    const kvno = (pending.previousKvno ?? record.secret.kvno) + 1
    return {
      desired: { kvno, phase: 'staged', keep, rotationId: pending.correlationId },
      sealed: pending.sealed,
    }
  }
  return {
    desired: { kvno: record.secret.kvno, phase: 'active', keep, rotationId: record.secret.rotationId },
    sealed: record.secret.sealed,
  }
}
