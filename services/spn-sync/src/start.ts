import { buckets } from '@krbfleet/contracts'
import { type Bus, type EventConsumer, ReconcileQueue, type RpcServer } from '@krbfleet/bus'
import type { Directory } from '@krbfleet/directory'
import type { Logger } from '@krbfleet/logging'
import { spnDirectory } from './adapters/ldap/spn-directory.ts'
import { leasesFromKv } from './adapters/nats/lease-kv.ts'
import { ownershipFromKv } from './adapters/nats/ownership-kv.ts'
import { serveSpnRpc } from './adapters/nats/rpc.ts'
import { topologyFromKv } from './adapters/nats/topology-kv.ts'
import { startTriggers } from './adapters/nats/triggers.ts'
import type { LeaseTiming } from './domain/index.ts'
import type { Failpoint } from './ports.ts'
import type { ReconcileMetrics } from './reconcile.ts'
import { SpnReconciler } from './service.ts'

/** Default of the periodic resync: the 5 minutes. */
export const DEFAULT_RESYNC_INTERVAL_MS = 5 * 60 * 1000

/**
 * Default of the accounts reconciled at the same time by one replica: a reconcile mostly waits on
 * the DC and NATS, and a few at once keep a large resync short without crowding the DC.
 */
export const DEFAULT_RECONCILE_CONCURRENCY = 4

export interface StartSpnSyncOptions {
  bus: Bus
  directory: Directory
  logger: Logger
  /** Periodic resync of every account (drift repair); 0 turns it off. */
  resyncIntervalMs?: number
  /** Accounts reconciled at the same time (one account never twice at once); default 4. */
  concurrency?: number
  metrics?: ReconcileMetrics
  /** Test seam, not a setting: called at the named point of a write (see ReconcileLoop). */
  failpoint?: (point: Failpoint) => void
  /** Timing of the per-account reconcile leases (defaults: DEFAULT_LEASE_TIMING). */
  leaseTiming?: Partial<LeaseTiming>
  /** This replica's lease holder id (random by default; tests name replicas). */
  replicaId?: string
}

export interface SpnSync {
  readonly reconciler: SpnReconciler
  readonly queue: ReconcileQueue
  /** Stops in order: event consumers, RPC, then the queue (waits for the reconcile in progress). */
  stop(): Promise<void>
}

/**
 * Wires spn-sync on a connected bus and directory: the reconciler, its queue keyed by account,
 * the event triggers (TopologyEnabled, KerberosAccountCreated), the periodic resync and the RPCs.
 * main.ts owns the connections and the process; tests call this in-process.
 */
export async function startSpnSync(options: StartSpnSyncOptions): Promise<SpnSync> {
  const { bus, logger } = options
  await bus.ensureStreams()
  const topology = topologyFromKv(await bus.kv(buckets.topology))
  const ownershipKv = await bus.kv(buckets.spnOwnership)
  const ownership = ownershipFromKv(ownershipKv, bus.jsm)
  const leases = leasesFromKv(ownershipKv, {
    logger,
    ...(options.replicaId ? { holder: options.replicaId } : {}),
    ...(options.leaseTiming ? { timing: options.leaseTiming } : {}),
  })
  const reconciler = new SpnReconciler({
    topology,
    ownership,
    leases,
    directory: spnDirectory(options.directory),
    events: {
      async publish(envelope) {
        await bus.publish(envelope)
      },
    },
    logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.failpoint ? { failpoint: options.failpoint } : {}),
  })
  const queue = new ReconcileQueue({
    name: 'spn-sync accounts',
    logger,
    resyncIntervalMs: options.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS,
    concurrency: options.concurrency ?? DEFAULT_RECONCILE_CONCURRENCY,
    listKeys: () => reconciler.accounts(),
    async reconcile(account) {
      await reconciler.reconcile(account)
    },
  })
  const rpc: RpcServer[] = serveSpnRpc(bus, reconciler, logger)
  const consumers: EventConsumer[] = startTriggers(bus, queue, topology, logger, (account, removedAt) =>
    reconciler.forget(account, removedAt),
  )
  queue.start()
  logger.info(
    {
      resyncIntervalMs: options.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS,
      concurrency: options.concurrency ?? DEFAULT_RECONCILE_CONCURRENCY,
      replica: leases.holder,
    },
    'spn-sync started',
  )
  return {
    reconciler,
    queue,
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()))
      await Promise.all(rpc.map((r) => r.stop()))
      await queue.stop()
    },
  }
}
