import type { Bus } from '@krbfleet/bus'
import type { EventEnvelope } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import type { NatsServer } from '@krbfleet/testing'
import { startNatsWorld } from '@krbfleet/testing/world'
import { startTopology, type TopologyInstance } from '../src/index.ts'
import { storedEvents as stored } from '@krbfleet/testing/world'

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
export const storedEvents = (bus: Bus): Promise<EventEnvelope[]> => stored(bus)
