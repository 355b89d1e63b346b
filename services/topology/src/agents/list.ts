import { type AgentRow, heldKvnos, type TopologyOperation, type TopologyRequest } from '@krbfleet/contracts'
import type { TopologyService } from '../service.ts'
import type { AgentStatusStore } from './projection.ts'

/**
 * `agent list`: every server of the draft with its pool, site, backend, enrolment, the account its
 * site is assigned, and what its agent last reported (heartbeat, kvnos held, health, last
 * credential applied or failed). The console adds AD's current kvno of each account. A fleet's
 * list is larger than one NATS message (about 440 bytes a server): libs/bus sends it in parts.
 */
export async function listAgents(
  service: TopologyService,
  store: AgentStatusStore,
  filter: TopologyRequest<typeof TopologyOperation.AgentList>,
): Promise<{ agents: AgentRow[] }> {
  const [{ servers }, { topology }] = await Promise.all([service.listServers(filter), service.get('draft')])
  const enrolments = new Map(topology.agents.map((a) => [a.server, a]))
  const accounts = new Map(topology.assignments.map((a) => [a.site, a.account]))
  const statuses = await store.getMany(servers.map((s) => s.fqdn))
  const agents = servers.map((s, i): AgentRow => {
    const status = statuses[i] ?? null
    const enrolment = enrolments.get(s.fqdn)
    return {
      server: s.fqdn,
      pool: s.pool,
      site: s.site,
      backend: s.backend,
      enrolled: s.enrolled,
      enrolledAt: enrolment?.enrolledAt ?? null,
      account: accounts.get(s.site) ?? null,
      lastHeartbeat: status?.lastHeartbeat?.at ?? null,
      kvnos: heldKvnos(status),
      health: status?.lastHeartbeat?.health ?? null,
      lastApplied: status?.lastApplied ?? null,
      lastFailure: status?.lastFailure ?? null,
    }
  })
  return { agents }
}
