import type { Bus } from '@krbfleet/bus'
import { type EventEnvelope, streams } from '@krbfleet/contracts'

/**
 * Every event stored in the events stream, in order, read message by message (what the stream
 * holds, not what a consumer saw): from `fromSeq` on, and only the types starting with
 * `typePrefix` (`krbfleet.agent.`) when given.
 */
export async function storedEvents(
  bus: Bus,
  options: { fromSeq?: number; typePrefix?: string } = {},
): Promise<EventEnvelope[]> {
  const info = await bus.jsm.streams.info(streams.events.name)
  const out: EventEnvelope[] = []
  if (info.state.messages === 0) return out
  for (let seq = Math.max(options.fromSeq ?? 1, info.state.first_seq); seq <= info.state.last_seq; seq++) {
    // A message removed by the stream's limits in between is a gap, not an error.
    const m = await bus.jsm.streams.getMessage(streams.events.name, { seq }).catch(() => null)
    const event = m?.json<EventEnvelope>()
    if (event && (options.typePrefix === undefined || event.type.startsWith(options.typePrefix)))
      out.push(event)
  }
  return out
}

/** The events stream's last sequence (to read only what comes after). */
export async function lastEventSeq(bus: Bus): Promise<number> {
  return (await bus.jsm.streams.info(streams.events.name)).state.last_seq
}
