import type { Bus, RpcServer } from '@krbfleet/bus'
import type { Logger } from 'pino'
import { serveTopologyRpc } from './adapters/rpc.ts'
import { TopologyStore } from './adapters/store.ts'
import { TopologyService } from './service.ts'

export interface StartTopologyOptions {
  bus: Bus
  logger: Logger
  autoEnable?: boolean
}

export interface TopologyInstance {
  service: TopologyService
  store: TopologyStore
  servers: RpcServer[]
  /** Stops answering (in-flight requests finish); the bus stays open (its owner closes it). */
  stop(): Promise<void>
}

/** Wires the topology service onto a connected bus: streams, bucket, RPC operations. */
export async function startTopology(options: StartTopologyOptions): Promise<TopologyInstance> {
  await options.bus.ensureStreams()
  const store = new TopologyStore(await options.bus.kv(TopologyStore.bucket))
  const service = new TopologyService({
    store,
    publish: (e) => options.bus.publish(e),
    logger: options.logger,
    autoEnable: options.autoEnable ?? false,
  })
  const servers = serveTopologyRpc(options.bus, service, options.logger)
  return {
    service,
    store,
    servers,
    async stop() {
      await Promise.all(servers.map((s) => s.stop()))
    },
  }
}
