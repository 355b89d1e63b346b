/**
 * The health of the bus as the console shows it (GET /v1/bus, `krbfleet test topology`): the events
 * stream against its limits, and every durable consumer on it with its lag. No message content.
 */

export interface StreamHealth {
  name: string
  messages: number
  bytes: number
  firstSeq: number
  lastSeq: number
  /** The stream's limits (-1: none). */
  maxBytes: number
  maxMessages: number
  consumers: number
}

export interface ConsumerHealth {
  stream: string
  durable: string
  /** Stored and not yet delivered to it: its lag. */
  pending: number
  /** Delivered and not yet acknowledged. */
  ackPending: number
  maxAckPending: number
  redelivered: number
  /** When a client last pulled from it, ISO 8601; null when never. */
  lastActive: string | null
}

export interface BusHealth {
  streams: StreamHealth[]
  consumers: ConsumerHealth[]
}
