import type { Bus } from '@krbfleet/bus'
import { type EventEnvelope, streams } from '@krbfleet/contracts'

/**
 * Every event stored in the events stream (or `stream`), in order, read message by message (what
 * the stream holds, not what a consumer saw): from `fromSeq` on, and only the types starting with
 * `typePrefix` (`krbfleet.agent.`) when given.
 */
export async function storedEvents(
  bus: Bus,
  options: { fromSeq?: number; typePrefix?: string; stream?: string } = {},
): Promise<EventEnvelope[]> {
  const stream = options.stream ?? streams.events.name
  const info = await bus.jsm.streams.info(stream)
  const out: EventEnvelope[] = []
  if (info.state.messages === 0) return out
  for (let seq = Math.max(options.fromSeq ?? 1, info.state.first_seq); seq <= info.state.last_seq; seq++) {
    // A message removed by the stream's limits in between is a gap, not an error.
    const m = await bus.jsm.streams.getMessage(stream, { seq }).catch(() => null)
    const event = m?.json<EventEnvelope>()
    if (event && (options.typePrefix === undefined || event.type.startsWith(options.typePrefix)))
      out.push(event)
  }
  return out
}

/** The heartbeats the heartbeats stream still holds (the newest few per server), in order. */
export const storedHeartbeats = (bus: Bus): Promise<EventEnvelope[]> =>
  storedEvents(bus, { stream: streams.heartbeats.name })

/** Every stored event: the events stream's, then the heartbeats still kept. */
export async function allStoredEvents(bus: Bus): Promise<EventEnvelope[]> {
  return [...(await storedEvents(bus)), ...(await storedHeartbeats(bus))]
}

/** The events stream's last sequence (to read only what comes after). */
export async function lastEventSeq(bus: Bus): Promise<number> {
  return (await bus.jsm.streams.info(streams.events.name)).state.last_seq
}
