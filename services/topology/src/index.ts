export { toEnvelope } from './adapters/nats/events.ts'
export { serveTopologyRpc, topologyHandlers } from './adapters/nats/rpc.ts'
export { agentHeartbeatDurable, agentStatusDurable } from './agents/projection.ts'
export { TopologyConfig } from './config.ts'
export * from './domain/index.ts'
export {
  type ChangeMeta,
  TopologyService,
  type TopologyServiceOptions,
  type TopologyView,
} from './service.ts'
export { type StartTopologyOptions, startTopology, type TopologyInstance } from './start.ts'
