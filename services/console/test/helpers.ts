import { type Bus, callRpc, connectBus } from '@krbfleet/bus'
import { type EventEnvelope, streams } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { type NatsServer, startNats } from '@krbfleet/testing'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'
import { buildApp, type ConsoleApp, hashToken, type TokenRecord } from '../src/index.ts'

export const tokens = {
  admin: 'admin-secret-token',
  operator: 'operator-secret-token',
  viewer: 'viewer-secret-token',
}
export const auth = (role: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[role]}` })

export interface ConsoleWorld {
  nats: NatsServer
  bus: Bus
  topology: TopologyInstance
  app: ConsoleApp
  stop(): Promise<void>
}

/** Real nats-server, a topology service and the console app, all in this process. */
export async function startConsoleWorld(): Promise<ConsoleWorld> {
  const nats = await startNats()
  const bus = await connectBus({ servers: nats.url, name: 'console-test', logger: silentLogger() })
  const topology = await startTopology({ bus, logger: silentLogger() })
  const records: TokenRecord[] = (Object.keys(tokens) as (keyof typeof tokens)[]).map((role) => ({
    name: `${role}-token`,
    role,
    sha256: hashToken(tokens[role]),
  }))
  const app = await buildApp({
    logger: silentLogger(),
    tokens: records,
    rpc: (service, operation, body, options) => callRpc(bus, service, operation, body, options),
    publish: (e) => bus.publish(e),
    checks: { nats: () => bus.isConnected() },
  })
  return {
    nats,
    bus,
    topology,
    app,
    async stop() {
      await app.close()
      await topology.stop()
      await bus.close()
      await nats.stop()
    },
  }
}

export async function storedEvents(bus: Bus, fromSeq = 1): Promise<EventEnvelope[]> {
  const info = await bus.jsm.streams.info(streams.events.name)
  const out: EventEnvelope[] = []
  for (let seq = Math.max(fromSeq, info.state.first_seq); seq <= info.state.last_seq; seq++) {
    const m = await bus.jsm.streams.getMessage(streams.events.name, { seq })
    if (m) out.push(m.json<EventEnvelope>())
  }
  return out
}

export async function lastSeq(bus: Bus): Promise<number> {
  return (await bus.jsm.streams.info(streams.events.name)).state.last_seq
}
