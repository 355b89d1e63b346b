import type { Bus, RpcServer } from '@krbfleet/bus'
import { TopologyStore } from '@krbfleet/topology-store'
import type { Logger } from 'pino'
import { buckets } from '@krbfleet/contracts'
import { serveTopologyRpc } from './adapters/nats/rpc.ts'
import { AgentStatusStore, startAgentStatusProjection } from './agents/projection.ts'
import { AgentEnrolments } from './enrolment/enrolment.ts'
import { TopologyService } from './service.ts'

export interface StartTopologyOptions {
  bus: Bus
  logger: Logger
  autoEnable?: boolean
  /** How often to publish what crashed writers left unpublished (default 30 s; 0: only at start). */
  catchUpIntervalMs?: number
}

export interface TopologyInstance {
  service: TopologyService
  store: TopologyStore
  servers: RpcServer[]
  /** Stops answering (in-flight requests finish); the bus stays open (its owner closes it). */
  stop(): Promise<void>
}

/** Wires the topology service onto a connected bus: streams, bucket, RPC operations, catch-up. */
export async function startTopology(options: StartTopologyOptions): Promise<TopologyInstance> {
  const logger = options.logger.child({ component: 'topology' })
  await options.bus.ensureStreams()
  const kv = await options.bus.kv(TopologyStore.bucket)
  const store = new TopologyStore(kv)
  const service = new TopologyService({
    store,
    publish: (e) => options.bus.publish(e),
    logger: options.logger,
    autoEnable: options.autoEnable ?? false,
  })
  const catchUp = () =>
    service
      .catchUp()
      .catch((err) => logger.warn({ err }, 'catching up unpublished events failed; will retry'))
  await catchUp()
  const intervalMs = options.catchUpIntervalMs ?? 30_000
  let running: Promise<void> | undefined
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          running ??= catchUp().finally(() => {
            running = undefined
          })
        }, intervalMs)
      : undefined
  timer?.unref()
  const enrolments = new AgentEnrolments({ kv, service, logger: options.logger })
  const agentStatus = new AgentStatusStore(await options.bus.kv(buckets.agents))
  const projection = startAgentStatusProjection({
    bus: options.bus,
    store: agentStatus,
    logger: options.logger,
  })
  const servers = serveTopologyRpc(options.bus, service, enrolments, agentStatus, options.logger)
  // Ready means subscribed: a request sent right after start must not meet "no responders".
  await Promise.all(servers.map((s) => s.ready))
  return {
    service,
    store,
    servers,
    async stop() {
      clearInterval(timer)
      await Promise.all(servers.map((s) => s.stop()))
      await projection.stop()
      await running
    },
  }
}
