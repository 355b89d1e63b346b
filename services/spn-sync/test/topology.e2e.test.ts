import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { callRpc } from '@krbfleet/bus'
import {
  ServiceName,
  SpnConflictDetected,
  SpnsReconciled,
  TopologyOperation as Op,
} from '@krbfleet/contracts'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'
import { startWorld, type World } from './world.ts'

/**
 * The whole SPN path with the real topology service (in-process) instead of KV written by hand:
 * an operator applies and enables a topology, spn-sync writes AD; a site is reassigned and
 * re-enabled, its SPNs move to the new account.
 */
describe('topology service -> spn-sync -> AD', { timeout: 300_000 }, () => {
  let world: World
  let topology: TopologyInstance
  const actor = 'user:e2e'
  const topologyRpc = <T>(operation: string, body: unknown) =>
    callRpc<T>(world.bus, ServiceName.Topology, operation, body, { actor })

  before(
    async () => {
      world = await startWorld()
      topology = await startTopology({ bus: world.bus, logger: world.logger })
      await world.startService({ resyncIntervalMs: 0 })
    },
    { timeout: 120_000 },
  )
  after(
    async () => {
      await topology?.stop()
      await world?.close()
    },
    { timeout: 60_000 },
  )

  it('enable writes the SPNs; reassigning a site moves them', async () => {
    const oneDn = await world.createComputer('KE2EONE')
    const twoDn = await world.createComputer('KE2ETWO')
    await topologyRpc(Op.TopologyApply, {
      document: {
        sites: [{ name: 'Redmond' }, { name: 'Dublin' }],
        pools: [
          {
            fqdn: 'web01.corp.example.com',
            site: 'Redmond',
            webServices: true,
            externalWebFqdn: 'web.example.com',
            loadBalancerNames: ['lb-web01.corp.example.com'],
          },
          {
            fqdn: 'web02.corp.example.com',
            site: 'Dublin',
            webServices: true,
            aliases: ['meet.example.com'],
          },
        ],
        assignments: [
          { site: 'Redmond', account: 'CORP\\KE2EONE' },
          { site: 'Dublin', account: 'CORP\\KE2EONE' },
        ],
      },
    })
    await topologyRpc(Op.TopologyEnable, {})
    await world.eventually(
      () => world.eventsOf(SpnsReconciled.type, 'CORP\\KE2EONE').length > 0,
      'SpnsReconciled for KE2EONE',
    )
    assert.deepEqual(await world.spnsOf(oneDn), [
      'HTTP/lb-web01.corp.example.com',
      'HTTP/meet.example.com',
      'HTTP/web.example.com',
      'HTTP/web01.corp.example.com',
      'HTTP/web02.corp.example.com',
    ])

    await topologyRpc(Op.AssignmentSet, { site: 'Dublin', account: 'CORP\\KE2ETWO' })
    await topologyRpc(Op.TopologyEnable, {})
    await world.eventually(
      async () => (await world.spnsOf(twoDn)).length === 2 && (await world.spnsOf(oneDn)).length === 3,
      'the Dublin SPNs moved to KE2ETWO',
    )
    assert.deepEqual(await world.spnsOf(twoDn), ['HTTP/meet.example.com', 'HTTP/web02.corp.example.com'])
    assert.deepEqual(await world.spnsOf(oneDn), [
      'HTTP/lb-web01.corp.example.com',
      'HTTP/web.example.com',
      'HTTP/web01.corp.example.com',
    ])
    assert.equal(world.eventsOf(SpnConflictDetected.type, 'CORP\\KE2ETWO').length, 0)
  })
})
