import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AgentHeartbeat, type EventEnvelope } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { type NatsWorld, startNatsWorld } from '@krbfleet/testing/world'
import { startHeartbeat } from '../src/adapters/nats/heartbeat.ts'
import { heartbeatPhase } from '../src/domain/heartbeat.ts'

const server = 'fe01.corp.example.com'

/** The heartbeat adapter against a real nats-server (the heartbeats stream). */
describe('heartbeat', () => {
  let world: NatsWorld
  before(async () => {
    world = await startNatsWorld({ name: 'heartbeat-test' })
  })
  after(async () => {
    await world?.stop()
  })

  it('the first heartbeat, sent at once, carries its own time; out-of-turn ones too', async () => {
    const intervalMs = 3_600_000
    // Half an hour after this server's heartbeat time: its last tick was long before the start.
    const tickTime = 1_800_000_000_000 - (1_800_000_000_000 % intervalMs) + heartbeatPhase(server, intervalMs)
    let clock = tickTime + 1_800_000
    const seen: EventEnvelope[] = []
    const sub = world.bus.nc.subscribe(AgentHeartbeat.subjects, {
      callback: (_err, m) => {
        seen.push(m.json<EventEnvelope>())
      },
    })
    let held = [{ account: 'CORP\\KERBAUTH', kvno: 3 }]
    const heartbeat = startHeartbeat({
      bus: world.bus,
      logger: silentLogger(),
      server,
      backend: 'keytab',
      intervalMs,
      held: () => held,
      now: () => clock,
    })
    try {
      for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20))
      assert.equal(
        seen[0]?.occurredAt,
        new Date(tickTime + 1_800_000).toISOString(),
        'not the last tick time',
      )
      clock += 5_000
      held = [{ account: 'CORP\\KERBAUTH', kvno: 4 }]
      heartbeat.beatNow()
      for (let i = 0; i < 100 && seen.length === 1; i++) await new Promise((r) => setTimeout(r, 20))
      assert.equal(seen[1]?.occurredAt, new Date(tickTime + 1_805_000).toISOString())
      assert.deepEqual((seen[1]?.data as { kvnos: unknown } | undefined)?.kvnos, held)
      assert.notEqual(seen[1]?.id, seen[0]?.id, 'another content in the same tick is another heartbeat')
    } finally {
      await heartbeat.stop()
      sub.unsubscribe()
    }
  })
})
