import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { EventConsumer } from '@krbfleet/bus'
import {
  AgentHeartbeat,
  agentToken,
  buckets,
  CredentialApplied,
  CredentialStaged,
  heldKvnos,
} from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { type NatsWorld, startNatsWorld } from '@krbfleet/testing/world'
import { AgentStatusStore, startAgentStatusProjection } from '../src/agents/projection.ts'

const server = 'fe01.corp.example.com'
const account = 'CORP\\KERBAUTH'
const actor = `agent:${server}`

/** The agents' reports kept in the agents bucket by the topology's projection (a real nats-server). */
describe('agent status projection', { timeout: 60_000 }, () => {
  let world: NatsWorld
  let store: AgentStatusStore
  let projection: EventConsumer

  before(async () => {
    world = await startNatsWorld({ name: 'agent-status-test' })
    store = new AgentStatusStore(await world.bus.kv(buckets.agents))
    projection = startAgentStatusProjection({ bus: world.bus, store, logger: silentLogger() })
  })
  after(async () => {
    await projection?.stop()
    await world?.stop()
  })

  const until = async (what: string, condition: () => Promise<boolean>) => {
    for (let i = 0; i < 200; i++) {
      if (await condition()) return
      await new Promise((r) => setTimeout(r, 25))
    }
    assert.fail(`not within 5 s: ${what}`)
  }

  it('an install report carrying what the server holds shows it without a heartbeat', async () => {
    await world.bus.publish(
      AgentHeartbeat.create(
        { server, backend: 'keytab', kvnos: [{ account, kvno: 3 }] },
        { actor, occurredAt: '2026-12-08T10:00:00.000Z' },
      ),
    )
    await until('the heartbeat is kept', async () => (await store.get(server))?.lastHeartbeat !== undefined)
    await world.bus.publish(
      CredentialStaged.create(
        {
          server,
          account,
          kvno: 4,
          held: [
            { account, kvno: 4 },
            { account, kvno: 3 },
          ],
        },
        { actor, occurredAt: '2026-12-08T10:00:01.000Z' },
      ),
    )
    await until('the staged kvno is held', async () =>
      heldKvnos(await store.get(server)).some((k) => k.kvno === 4),
    )
    const status = await store.get(server)
    assert.equal(status?.lastHeartbeat?.at, '2026-12-08T10:00:00.000Z', 'a report is not a heartbeat')
    assert.deepEqual(status?.lastHeartbeat?.kvnos, [{ account, kvno: 3 }])
  })

  it('what another replica wrote meanwhile is read again, not overwritten', async () => {
    // A second topology replica (its own store) applies a report between two of this store's.
    const replica = new AgentStatusStore(await world.bus.kv(buckets.agents))
    await replica.apply(server, {
      kind: 'failed',
      at: '2026-12-08T10:00:02.000Z',
      account,
      kvno: 5,
      reason: 'disk full',
    })
    await world.bus.publish(
      CredentialApplied.create(
        { server, account, kvno: 4, held: [{ account, kvno: 4 }] },
        { actor, occurredAt: '2026-12-08T10:00:03.000Z' },
      ),
    )
    await until('the applied kvno is kept', async () => (await store.get(server))?.lastApplied?.kvno === 4)
    const status = await store.get(server)
    assert.equal(status?.lastFailure?.reason, 'disk full', "the replica's write stays")
    assert.deepEqual(status?.held, { at: '2026-12-08T10:00:03.000Z', kvnos: [{ account, kvno: 4 }] })
    const entry = await (await world.bus.kv(buckets.agents)).get(agentToken(server))
    assert.equal(entry?.json<{ lastApplied?: { kvno: number } }>().lastApplied?.kvno, 4)
  })
})
