import { KerberosAccountCreated, TopologyEnabled } from '@krbfleet/contracts'
import { type Bus, type EventConsumer, consumeEvents, type ReconcileQueue } from '@krbfleet/bus'
import type { Logger } from '@krbfleet/logging'
import { accountsOf } from '../../domain/index.ts'
import type { TopologyReader } from '../../ports.ts'

/** Durable consumer names of spn-sync; replicas share them. */
export const durables = {
  topologyEnabled: 'spn-sync-topology-enabled',
  accountCreated: 'spn-sync-account-created',
} as const

/**
 * Events only say which accounts to look at (STYLE rule 4): an enabled revision enqueues every
 * account of the new and the previous revision (an account that lost its last site must give its
 * SPNs up); a new Kerberos account enqueues itself (its sites may have been enabled before it existed).
 */
export function startTriggers(
  bus: Bus,
  queue: ReconcileQueue,
  topology: TopologyReader,
  logger: Logger,
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
  return [enabled, created]
}
