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

export function heartbeatTick(nowMs: number, intervalMs: number): number {
  return Math.floor(nowMs / intervalMs)
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
  /**
   * When it is sent out of turn (at once after a change, ms since the epoch): its own time, so that
   * it is newer than the tick's regular heartbeat for the agent's status; by default the tick's start.
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
      // The tick's start (or the time of a heartbeat out of turn), fixed when built: a retried
      // envelope is byte-for-byte the first one.
      occurredAt: new Date(input.at ?? input.tick * input.intervalMs).toISOString(),
    },
  )
}
