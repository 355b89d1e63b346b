export * from './domain/index.ts'
export { spnDirectory } from './adapters/ldap/spn-directory.ts'
export { LEASE_KEY_PREFIX, leaseKey, leasesFromKv } from './adapters/nats/lease-kv.ts'
export { ownershipFromKv } from './adapters/nats/ownership-kv.ts'
export { AccountBusyError } from './errors.ts'
export { serveSpnRpc } from './adapters/nats/rpc.ts'
export { topologyFromKv } from './adapters/nats/topology-kv.ts'
export { durables, startTriggers } from './adapters/nats/triggers.ts'
export { createSpnMetrics } from './metrics.ts'
export type * from './ports.ts'
export { type AccountOutcome, conflictEventId, type ReconcileMetrics } from './reconcile.ts'
export { SERVICE_ACTOR } from './spn-write.ts'
export { SpnReconciler, type SpnReconcilerOptions } from './service.ts'
export {
  DEFAULT_RECONCILE_CONCURRENCY,
  DEFAULT_RESYNC_INTERVAL_MS,
  type SpnSync,
  type StartSpnSyncOptions,
  startSpnSync,
} from './start.ts'
