import { createHash } from 'node:crypto'
import { AgentHeartbeat, type EventEnvelope } from '@krbfleet/contracts'
import type { BackendHealth } from '../ports.ts'

/**
 * AgentHeartbeat, pure. Time is cut into ticks of one interval since the epoch; a heartbeat's event
 * id is derived from the server and its tick, so a publish retried within the tick (a lost ack, a
 * reconnect) is a duplicate that JetStream drops (msgID = event id, STYLE rule 5), and a restarted
 * agent does not repeat ids of a past tick either.
 */

export type AgentBackendName = 'iis' | 'keytab'

export interface HeldKvno {
  account: string
  kvno: number
}

/** The tick of `nowMs`: how many heartbeat times (each tick's start plus the phase) have passed. */
export function heartbeatTick(nowMs: number, intervalMs: number, phaseMs = 0): number {
  return Math.floor((nowMs - phaseMs) / intervalMs)
}

/**
 * Where in each interval this server beats: a fixed offset from its name, spread evenly over the
 * fleet, so that ten thousand agents do not all publish at the start of the same second.
 */
export function heartbeatPhase(server: string, intervalMs: number): number {
  return createHash('sha256').update(server).digest().readUInt32BE(0) % intervalMs
}

/** Milliseconds from `nowMs` to the next heartbeat time. */
export function untilNextBeat(nowMs: number, intervalMs: number, phaseMs = 0): number {
  const into = (((nowMs - phaseMs) % intervalMs) + intervalMs) % intervalMs
  return intervalMs - into
}

/**
 * `heartbeat-<22 chars of the server's hash>-<tick>[-<8 chars of the content's hash>]`: within the
 * envelope's 64 characters for any FQDN. The same content in the same tick is the same id (a retry
 * is dropped as a duplicate); a heartbeat sent at once after a change in the same tick is not.
 */
export function heartbeatEventId(server: string, tick: number, content?: string): string {
  const digest = createHash('sha256').update(server).digest().subarray(0, 16).toString('base64url')
  if (content === undefined) return `heartbeat-${digest}-${tick}`
  const changed = createHash('sha256').update(content).digest().subarray(0, 6).toString('base64url')
  return `heartbeat-${digest}-${tick}-${changed}`
}

/** The actor of everything an agent does: `agent:<server>` (libs/contracts envelope). */
export function agentActor(server: string): string {
  return `agent:${server}`
}

export function heartbeatEvent(input: {
  server: string
  backend: AgentBackendName
  kvnos: HeldKvno[]
  health?: BackendHealth
  tick: number
  intervalMs: number
  /** The server's heartbeatPhase (default 0). */
  phaseMs?: number
  /**
   * When it is sent out of turn (at once after a change, ms since the epoch): its own time, so that
   * it is newer than the tick's regular heartbeat for the agent's status; by default the tick's
   * heartbeat time (its start plus the phase).
   */
  at?: number
}): EventEnvelope {
  const health = input.health && {
    ok: input.health.ok,
    ...(input.health.detail ? { detail: input.health.detail.slice(0, 1024) } : {}),
  }
  const id = heartbeatEventId(
    input.server,
    input.tick,
    JSON.stringify([input.backend, input.kvnos, health ?? null]),
  )
  return AgentHeartbeat.create(
    { server: input.server, backend: input.backend, kvnos: input.kvnos, ...(health ? { health } : {}) },
    {
      id,
      actor: agentActor(input.server),
      // The tick's heartbeat time (or the time of one out of turn), fixed when built: a retried
      // envelope is byte-for-byte the first one.
      occurredAt: new Date(input.at ?? input.tick * input.intervalMs + (input.phaseMs ?? 0)).toISOString(),
    },
  )
}
