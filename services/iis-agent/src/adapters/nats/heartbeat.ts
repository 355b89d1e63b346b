import type { Bus } from '@krbfleet/bus'
import type { Logger } from 'pino'
import {
  type AgentBackendName,
  type HeldKvno,
  heartbeatEvent,
  heartbeatPhase,
  heartbeatTick,
  untilNextBeat,
} from '../../domain/heartbeat.ts'
import type { BackendHealth } from '../../ports.ts'

export interface HeartbeatOptions {
  bus: Bus
  logger: Logger
  server: string
  backend: AgentBackendName
  intervalMs: number
  /** The kvnos the agent holds at this tick (from the credential lifecycle). */
  held(): HeldKvno[]
  /** The backend's health at this tick; none: not reported. */
  health?(): BackendHealth
  /** Default Date.now. */
  now?(): number
  onPublished?(duplicate: boolean): void
  onFailed?(): void
}

export interface Heartbeat {
  /** Publishes one now (after a change of what the agent holds), besides the ticks. */
  beatNow(): void
  stop(): Promise<void>
}

/**
 * Publishes AgentHeartbeat once per tick: one at once (stamped with its own time), then at every following heartbeat time (the
 * tick's start plus this server's phase, so that a fleet's heartbeats spread over the interval), on
 * the heartbeats stream. A failed publish is logged and the next tick tries again (a heartbeat is a
 * report, not a task).
 */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const logger = options.logger.child({ component: 'heartbeat' })
  const now = options.now ?? Date.now
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const phaseMs = heartbeatPhase(options.server, options.intervalMs)

  const beat = async (outOfTurn = false) => {
    const at = now()
    const tick = heartbeatTick(at, options.intervalMs, phaseMs)
    const event = heartbeatEvent({
      ...(outOfTurn ? { at } : {}),
      server: options.server,
      backend: options.backend,
      kvnos: options.held(),
      ...(options.health ? { health: options.health() } : {}),
      tick,
      intervalMs: options.intervalMs,
      phaseMs,
    })
    try {
      const { duplicate } = await options.bus.publish(event)
      options.onPublished?.(duplicate)
      logger.debug({ tick, duplicate }, 'heartbeat published')
    } catch (err) {
      options.onFailed?.()
      if (!stopped) logger.warn({ err, tick }, 'heartbeat not published; the next tick tries again')
    }
  }

  const schedule = () => {
    if (stopped) return
    const delay = untilNextBeat(now(), options.intervalMs, phaseMs)
    timer = setTimeout(() => void beat().finally(schedule), delay)
  }

  // The first one goes at once, between two heartbeat times: stamped with its own time, not the
  // last heartbeat time (up to an interval before the agent even started).
  void beat(true).finally(schedule)
  /** One out-of-turn beat for the changes of one moment (an install reports its outcome and what it holds). */
  let soon: NodeJS.Immediate | undefined
  return {
    beatNow() {
      if (stopped || soon) return
      soon = setImmediate(() => {
        soon = undefined
        void beat(true)
      })
    },
    async stop() {
      // A publish in flight is not waited for (its retries may outlast the shutdown budget);
      // draining the connection, the next shutdown phase, ends it.
      stopped = true
      clearTimeout(timer)
      clearImmediate(soon)
    },
  }
}
