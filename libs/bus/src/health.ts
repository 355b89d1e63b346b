import { type BusHealth, type ConsumerHealth, streams } from '@krbfleet/contracts'
import type { Bus } from './connect.ts'

/**
 * The events stream's state and each durable consumer's lag, read with STREAM.INFO and
 * CONSUMER.LIST (read-only: the console's NATS user may do nothing else with them).
 */
export async function busHealth(bus: Pick<Bus, 'jsm'>): Promise<BusHealth> {
  const name = streams.events.name
  const { config, state } = await bus.jsm.streams.info(name)
  const consumers: ConsumerHealth[] = []
  for await (const info of bus.jsm.consumers.list(name)) {
    if (!info.config.durable_name) continue
    // Typed as nanoseconds by nats.js; the server sends a time (RFC 3339), absent before a delivery.
    const active = new Date(info.delivered.last_active as unknown as string)
    consumers.push({
      stream: name,
      durable: info.config.durable_name,
      pending: info.num_pending,
      ackPending: info.num_ack_pending,
      maxAckPending: info.config.max_ack_pending ?? -1,
      redelivered: info.num_redelivered,
      lastActive: info.delivered.last_active && !Number.isNaN(active.getTime()) ? active.toISOString() : null,
    })
  }
  consumers.sort((a, b) => a.durable.localeCompare(b.durable))
  return {
    streams: [
      {
        name,
        messages: state.messages,
        bytes: state.bytes,
        firstSeq: state.first_seq,
        lastSeq: state.last_seq,
        maxBytes: config.max_bytes,
        maxMessages: config.max_msgs,
        consumers: state.consumer_count,
      },
    ],
    consumers,
  }
}
