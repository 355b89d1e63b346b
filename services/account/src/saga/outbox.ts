import { ErrorCode, type EventEnvelope, KrbfleetError } from '@krbfleet/contracts'
import { type AccountRecord, markPublished } from '../domain/record.ts'
import type { AccountStore, EventSink } from '../ports.ts'

/**
 * The events an account record owes (its outbox, like topology's catchUp): written into the record
 * together with the write they announce, published afterwards with the ids derived from the
 * record, so that a publish repeated after a crash or a bus failure is a JetStream duplicate,
 * never a second event.
 */
export class AccountOutbox {
  readonly #store: AccountStore
  readonly #events: EventSink

  constructor(options: { store: AccountStore; events: EventSink }) {
    this.#store = options.store
    this.#events = options.events
  }

  /**
   * Publishes the events the record of `account` still owes and marks them published. Returns how
   * many it published; throws when the bus fails (the record keeps them for the next sweep). A
   * record whose removal is decided is left to the removal, which publishes its events last.
   */
  async publishOwed(account: string): Promise<number> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const stored = await this.#store.get(account)
      const outbox = owedBy(stored?.record)
      if (!stored || outbox.length === 0 || stored.record.removing) return 0
      for (const envelope of outbox) await this.#events.publish(envelope)
      try {
        await this.#store.update(
          markPublished(
            stored.record,
            outbox.map((e) => e.id),
          ),
          stored.revision,
        )
        return outbox.length
      } catch (err) {
        // The record moved meanwhile (another replica or operation): read again; the events are
        // already on the stream, a republish of them is dropped as a duplicate.
        if (!(err instanceof KrbfleetError && err.code === ErrorCode.Conflict)) throw err
      }
    }
    return 0
  }

  /** Publishes every event `record` owes without marking them: for a record about to be deleted. */
  async publishAll(record: AccountRecord): Promise<void> {
    for (const envelope of owedBy(record)) await this.#events.publish(envelope)
  }
}

/** The outbox holds envelopes this service built; the record schema keeps them opaque. */
function owedBy(record: AccountRecord | undefined): EventEnvelope[] {
  return (record?.outbox ?? []) as EventEnvelope[]
}
