import { KerberosAccountCreated, KerberosAccountRemoved, TopologyEnabled } from '@krbfleet/contracts'
import { type Bus, type EventConsumer, consumeEvents, type ReconcileQueue } from '@krbfleet/bus'
import type { Logger } from '@krbfleet/logging'
import { accountsOf } from '../../domain/index.ts'
import type { TopologyReader } from '../../ports.ts'

/** Durable consumer names of spn-sync; replicas share them. */
export const durables = {
  topologyEnabled: 'spn-sync-topology-enabled',
  accountCreated: 'spn-sync-account-created',
  accountRemoved: 'spn-sync-account-removed',
} as const

/**
 * Events only say which accounts to look at (STYLE rule 4): an enabled revision enqueues every
 * account of the new and the previous revision (an account that lost its last site must give its
 * SPNs up); a new Kerberos account enqueues itself (its sites may have been enabled before it existed).
 * A removed account is not enqueued: `forget` drops its ownership record (nothing is left in AD to
 * reconcile; the computer object and its SPNs went with it). It gets the event's occurredAt: the
 * removal and a re-creation come through different consumers, so a late removal must not drop the
 * record of the account created since (SpnReconciler.forget). A forget that finds the account
 * leased by another replica throws a retryable error, so the event is redelivered after a backoff.
 */
export function startTriggers(
  bus: Bus,
  queue: ReconcileQueue,
  topology: TopologyReader,
  logger: Logger,
  forget: (account: string, removedAt: string) => Promise<void>,
): EventConsumer[] {
  const enabled = consumeEvents(bus, {
    durable: durables.topologyEnabled,
    filterSubject: TopologyEnabled.subject,
    events: [TopologyEnabled],
    logger,
    async handle(event, ctx) {
      const current = await topology.revision(event.data.revision)
      const previous =
        event.data.previousRevision > 0 ? await topology.revision(event.data.previousRevision) : null
      const accounts = new Set([...accountsOf(current), ...accountsOf(previous)])
      ctx.logger.info({ revision: event.data.revision, accounts: [...accounts] }, 'topology enabled')
      for (const account of accounts) queue.enqueue(account)
    },
  })
  const created = consumeEvents(bus, {
    durable: durables.accountCreated,
    filterSubject: KerberosAccountCreated.subject,
    events: [KerberosAccountCreated],
    logger,
    async handle(event) {
      queue.enqueue(event.data.account)
    },
  })
  const removed = consumeEvents(bus, {
    durable: durables.accountRemoved,
    filterSubject: KerberosAccountRemoved.subject,
    events: [KerberosAccountRemoved],
    logger,
    async handle(event, ctx) {
      ctx.logger.info({ account: event.data.account, removedAt: event.occurredAt }, 'account removed')
      await forget(event.data.account, event.occurredAt)
    },
  })
  return [enabled, created, removed]
}
