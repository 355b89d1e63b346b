export { toEnvelope } from './adapters/nats/events.ts'
export { serveTopologyRpc, topologyHandlers } from './adapters/nats/rpc.ts'
export * from './domain/index.ts'
export {
  type ChangeMeta,
  TopologyService,
  type TopologyServiceOptions,
  type TopologyView,
} from './service.ts'
export { TopologyConfig } from './config.ts'
export { startTopology, type TopologyInstance, type StartTopologyOptions } from './start.ts'
export { agentStatusDurable } from './agents/projection.ts'
