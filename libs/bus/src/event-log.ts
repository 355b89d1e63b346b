import { AnyEnvelope, allEvents, type EventEnvelope, streamOf, subjects } from '@krbfleet/contracts'
import type { Bus } from './connect.ts'

/**
 * The events stream read as a log, for operators (`krbfleet events`, the dashboard): no consumer,
 * no acknowledgement, so a reader can neither take events from the services' durables nor slow
 * them down. Stored events are read one by one with the stream's message get (`next_by_subj`: the
 * next event on or after a sequence on a subject filter; nats-server 2.9+), live ones by a core
 * subscription. An event is kept only if it decodes and is on the subject its type and data say
 * (an agent's report on another server's subject is a forgery and is dropped).
 */

export interface LoggedEvent {
  /** The stream sequence (0 for an event heard live, before it was read back). */
  seq: number
  subject: string
  event: EventEnvelope
}

const byType = new Map<string, (typeof allEvents)[number]>(allEvents.map((d) => [d.type, d]))

/** The envelope of a stored or heard message, if it is a valid event on its own subject. */
export function eventOfMessage(subject: string, data: Uint8Array | string): EventEnvelope | null {
  try {
    const raw: unknown = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data))
    const definition = byType.get(AnyEnvelope.decode(raw).type)
    if (!definition) return null
    const event = definition.decode(raw)
    return definition.subjectOf(event.data as never) === subject ? (event as EventEnvelope) : null
  } catch {
    return null
  }
}

/**
 * The first sequence whose event was stored at or after `at` (binary search over the stream by
 * message time: about log2(N) reads), or the next sequence to come when none is. The stream is the
 * one of `subject` (the events stream by default; the heartbeats stream for heartbeats).
 */
export async function sequenceAt(
  bus: Pick<Bus, 'jsm'>,
  at: Date,
  subject: string = subjects.allEvents,
): Promise<number> {
  const {
    name: stream,
    subjects: [root],
  } = streamOf(subject)
  const { state } = await bus.jsm.streams.info(stream)
  if (state.messages === 0) return state.last_seq + 1
  let low = state.first_seq
  let high = state.last_seq + 1
  while (low < high) {
    const middle = Math.floor((low + high) / 2)
    const message = await bus.jsm.streams
      .getMessage(stream, { seq: middle, next_by_subj: root } as never)
      .catch(() => null)
    if (!message) {
      high = middle
      continue
    }
    if (message.time.getTime() < at.getTime()) low = message.seq + 1
    else high = middle
  }
  return low
}

/**
 * The stored events on `subject` (a filter, `krbfleet.events.>` by default) from sequence `from`
 * on, oldest first, at most `limit`, from the stream of that subject (streamOf).
 */
export async function readEventLog(
  bus: Pick<Bus, 'jsm'>,
  options: { from: number; subject?: string; limit?: number },
): Promise<{ events: LoggedEvent[]; next: number }> {
  const subject = options.subject ?? subjects.allEvents
  const stream = streamOf(subject).name
  const limit = options.limit ?? 1000
  const events: LoggedEvent[] = []
  let next = Math.max(1, options.from)
  while (events.length < limit) {
    // Past the last event on the filter: "no message found", null.
    const message = await bus.jsm.streams.getMessage(stream, { seq: next, next_by_subj: subject } as never)
    if (!message) break
    next = message.seq + 1
    const event = eventOfMessage(message.subject, message.data)
    if (event) events.push({ seq: message.seq, subject: message.subject, event })
  }
  return { events, next }
}

/** Every event published from now on, as it is published (core subscription on the events subjects). */
export function followEventLog(
  bus: Pick<Bus, 'nc'>,
  onEvent: (event: LoggedEvent) => void,
  subject = subjects.allEvents,
): { stop(): void } {
  const subscription = bus.nc.subscribe(subject, {
    callback: (err, message) => {
      if (err) return
      const event = eventOfMessage(message.subject, message.data)
      if (event) onEvent({ seq: 0, subject: message.subject, event })
    },
  })
  return { stop: () => subscription.unsubscribe() }
}
