import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { TopologyEnabled } from '@krbfleet/contracts'
import { fleet } from '../services/topology/test/fleet.ts'
import { startSystem, type System } from './support/system.ts'

/**
 * Issue 16 end to end: a topology of 20,000 servers (100 pools over 20 sites, one account) is
 * applied in one change and enabled; spn-sync, a process of its own woken by the enable, writes
 * every pool's SPN to the account in AD. (Storage of as many agents: services/topology/test/
 * scale.int.test.ts; the figures: `npm run bench -- --only scale`.)
 */
const ACCOUNT = 'CORP\\KERBSCL'

describe('the topology at 20,000 servers, end to end', () => {
  let system: System
  before(async () => {
    system = await startSystem()
  })
  after(async () => {
    await system?.stop()
  })

  it('one apply and one enable put every pool SPN on the account in AD', async () => {
    const created = await system.cli(['account', 'new', ACCOUNT])
    assert.equal(created.code, 0, created.stderr)
    const f = fleet({ servers: 20_000, sites: 20, poolsPerSite: 5, account: ACCOUNT })
    const { service } = system.topology
    await service.change({ type: 'applyDocument', document: f.document }, { actor: 'user:scale' })
    // Through the CLI as an operator enables: the answer lists the first names and counts the rest.
    const enabled = await system.cli(['topology', 'enable', '--json'])
    assert.equal(enabled.code, 0, enabled.stderr)
    const answer = JSON.parse(enabled.stdout) as {
      diff: { serversAdded: string[]; omitted?: Record<string, number> }
    }
    assert.equal(answer.diff.serversAdded.length + (answer.diff.omitted?.serversAdded ?? 0), 20_000)

    const wanted = f.spns
    await system.eventually(async () => {
      const spns = new Set((await system.spnsOf('KERBSCL$')).map((s) => s.toLowerCase()))
      return wanted.every((w) => spns.has(w))
    }, `every one of the ${wanted.length} pool SPNs in AD`)
    const spns = (await system.spnsOf('KERBSCL$')).map((s) => s.toLowerCase()).sort()
    assert.deepEqual(spns, wanted, 'exactly the pools, no server name')
    const event = (await system.events()).find((e) => e.type === TopologyEnabled.type)
    assert.ok(event, 'TopologyEnabled published')
    assert.equal(TopologyEnabled.decode(event).data.summary.omitted?.serversAdded, 20_000 - 100)
  })

  it('the operator lists all 20,000 servers and their agents: answers of megabytes come in parts', async () => {
    const servers = await system.cli(['server', 'list', '--json'])
    assert.equal(servers.code, 0, servers.stderr)
    const listed = (JSON.parse(servers.stdout) as { servers: Array<{ fqdn: string }> }).servers
    assert.equal(listed.length, 20_000)
    assert.equal(new Set(listed.map((s) => s.fqdn)).size, 20_000)

    const agents = await system.cli(['agent', 'list', '--json'])
    assert.equal(agents.code, 0, agents.stderr)
    assert.ok(agents.stdout.length > 4 * 1024 * 1024, `${agents.stdout.length} bytes: several NATS messages`)
    const rows = (
      JSON.parse(agents.stdout) as { agents: Array<{ server: string; enrolled: boolean; site: string }> }
    ).agents
    assert.equal(rows.length, 20_000)
    assert.ok(rows.every((r) => r.site !== '' && typeof r.enrolled === 'boolean'))

    // The dashboard's and the API's route (the same answer, over HTTP).
    const site = rows[0]?.site ?? ''
    const ofSite = await system.api<{ agents: unknown[] }>(
      'GET',
      `/v1/agents?site=${encodeURIComponent(site)}`,
    )
    assert.equal(ofSite.status, 200)
    assert.equal(ofSite.body.agents.length, 1_000)
  })
})
