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
})
