import type { TopologyDocument } from '@krbfleet/contracts'

/**
 * Which credential each web server must hold (ARCHITECTURE.md, "iis-agent"): the current secret of
 * the account its site is assigned in the ENABLED topology, sealed to the key its agent enrolled.
 * Given the enabled topology, the kvno of each account's confirmed secret and what the credentials
 * bucket holds, the plan says what to issue and what to revoke. Level-triggered: the same inputs give
 * the same plan, so a repeated run after a crash or a missed event converges. Pure.
 */

export interface HeldCredential {
  account: string
  kvno: number
  /** Key id of the agent key it was sealed to. */
  recipient: string
}

export interface Delivery {
  server: string
  account: string
  kvno: number
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

export function planDeliveries(
  topology: TopologyDocument | null,
  secretKvnos: ReadonlyMap<string, number>,
  held: ReadonlyMap<string, HeldCredential>,
  keyIdOf: (encryptionKey: string) => string,
): DeliveryPlan {
  const issue: Delivery[] = []
  const wanted = new Set<string>()
  for (const server of topology?.servers ?? []) {
    const pool = topology?.pools.find((p) => p.fqdn === server.pool)
    const account = topology?.assignments.find((a) => a.site === pool?.site)?.account
    const agent = topology?.agents.find((a) => a.server === server.fqdn)
    // No account (unassigned site) or no key to seal to: nothing to hold.
    if (account === undefined || agent === undefined) continue
    wanted.add(server.fqdn)
    // No confirmed secret (being created, or its record unreadable now): what the server holds stays.
    const kvno = secretKvnos.get(account)
    if (kvno === undefined) continue
    const current = held.get(server.fqdn)
    const recipient = keyIdOf(agent.encryptionKey)
    if (current && current.account === account && current.kvno === kvno && current.recipient === recipient)
      continue
    issue.push({
      server: server.fqdn,
      account,
      kvno,
      encryptionKey: agent.encryptionKey,
      withPassword: server.backend === 'iis',
    })
  }
  const revoke = [...held.keys()].filter((server) => !wanted.has(server)).sort()
  return { issue: issue.sort((a, b) => a.server.localeCompare(b.server)), revoke }
}
