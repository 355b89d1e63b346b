import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { AgentReport } from './decide.ts'
import type { RotationRecord } from './model.ts'

/** What the saga tells its metrics: a rotation started or ended, an agent's report was counted. */
export interface RotationObserver {
  /** This process began driving a rotation (started or resumed). */
  started(): void
  /** It stopped driving it (ended, or handed to another run). */
  stopped(): void
  /** A rotation ended: done with every target applied (`applied`), done with some left (`partial`), or aborted. */
  finished(record: RotationRecord): void
  report(kind: AgentReport['kind']): void
}

/**
 * The rotation's figures on the account service's /metrics: `krbfleet_rotations_total{outcome}`,
 * `krbfleet_rotation_duration_seconds{outcome}` (start to end), `krbfleet_rotations_running`, and
 * `krbfleet_agent_reports_total{kind}` (staged, applied, failed, as the saga hears them).
 */
export function rotationMetrics(registry: Registry): RotationObserver {
  // A service started again in the same process (tests) shares the registry's metrics.
  const existing = <M>(name: string) => registry.getSingleMetric(name) as M | undefined
  const total =
    existing<Counter>('krbfleet_rotations_total') ??
    new Counter({
      name: 'krbfleet_rotations_total',
      help: 'Rotations that ended, by outcome: applied (every server), partial (some left behind), aborted',
      labelNames: ['outcome'],
      registers: [registry],
    })
  const duration =
    existing<Histogram>('krbfleet_rotation_duration_seconds') ??
    new Histogram({
      name: 'krbfleet_rotation_duration_seconds',
      help: 'Time from the start of a rotation to its end, by outcome',
      labelNames: ['outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    })
  const running =
    existing<Gauge>('krbfleet_rotations_running') ??
    new Gauge({
      name: 'krbfleet_rotations_running',
      help: 'Rotations this process is driving now',
      registers: [registry],
    })
  const reports =
    existing<Counter>('krbfleet_agent_reports_total') ??
    new Counter({
      name: 'krbfleet_agent_reports_total',
      help: "Agents' credential reports counted by the rotations, by kind (staged, applied, failed)",
      labelNames: ['kind'],
      registers: [registry],
    })
  return {
    started: () => running.inc(),
    stopped: () => running.dec(),
    finished(record) {
      const outcome =
        record.state === 'aborted'
          ? 'aborted'
          : record.targets.every((t) => t.applied)
            ? 'applied'
            : 'partial'
      total.inc({ outcome })
      const seconds =
        (Date.parse(record.finishedAt ?? record.updatedAt) - Date.parse(record.startedAt)) / 1000
      duration.observe({ outcome }, Math.max(0, seconds))
    },
    report: (kind) => reports.inc({ kind }),
  }
}
