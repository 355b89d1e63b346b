import type { Bus } from '@krbfleet/bus'
import { type EventEnvelope, streams } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import type { NatsServer } from '@krbfleet/testing'
import { startNatsWorld } from '@krbfleet/testing/world'
import { startTopology, type TopologyInstance } from '../src/index.ts'

export interface World {
  nats: NatsServer
  bus: Bus
  topology: TopologyInstance
  stop(): Promise<void>
}

/** A real nats-server and a topology service on it (in this process). */
export async function startWorld(options: { autoEnable?: boolean } = {}): Promise<World> {
  const { nats, bus, stop } = await startNatsWorld({ name: 'topology-test' })
  const topology = await startTopology({
    bus,
    logger: silentLogger(),
    autoEnable: options.autoEnable ?? false,
  })
  return {
    nats,
    bus,
    topology,
    async stop() {
      await topology.stop()
      await stop()
    },
  }
}

/** Every event on the stream, in order. */
export async function storedEvents(bus: Bus): Promise<EventEnvelope[]> {
  const info = await bus.jsm.streams.info(streams.events.name)
  const out: EventEnvelope[] = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await bus.jsm.streams.getMessage(streams.events.name, { seq })
    if (m) out.push(m.json<EventEnvelope>())
  }
  return out
}
