/**
 * Timing helpers of the benchmarks: bounded loops, nanosecond samples, and one result row type.
 * No loop runs open-ended: every benchmark states its count.
 */
import { readdir, readFile } from 'node:fs/promises'

export interface BenchResult {
  /** Group shown as a table section: crypto, topology, spn, nats, ldap, e2e. */
  group: string
  name: string
  /** Operations measured. */
  n: number
  /** The headline figure and its unit (ms/op, ops/s, msgs/s, ms). */
  value: number
  unit: string
  /** Per-operation latencies in ms, when each operation was timed on its own. */
  meanMs?: number
  p50Ms?: number
  p99Ms?: number
  maxMs?: number
  note?: string
}

export interface LatencyStats {
  meanMs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  totalMs: number
}

const nsToMs = (ns: bigint | number) => Number(ns) / 1e6

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number
}

export function stats(samplesMs: readonly number[]): LatencyStats {
  const sorted = [...samplesMs].sort((a, b) => a - b)
  const totalMs = sorted.reduce((a, b) => a + b, 0)
  return {
    meanMs: totalMs / sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    totalMs,
  }
}

/** Runs `fn` `n` times (after `warmup` untimed runs), timing each call. */
export async function timeEach(
  n: number,
  fn: (i: number) => unknown | Promise<unknown>,
  warmup = 0,
): Promise<LatencyStats> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i)
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint()
    await fn(i)
    samples.push(nsToMs(process.hrtime.bigint() - start))
  }
  return stats(samples)
}

/** Times `fn` once as a whole (a batch of work), in ms. */
export async function timeBatch(fn: () => unknown | Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint()
  await fn()
  return nsToMs(process.hrtime.bigint() - start)
}

/** A row with per-operation latencies (ms/op mean, p50, p99, max). */
export function latencyRow(
  group: string,
  name: string,
  n: number,
  s: LatencyStats,
  note?: string,
): BenchResult {
  return {
    group,
    name,
    n,
    value: round(s.meanMs),
    unit: 'ms/op',
    meanMs: round(s.meanMs),
    p50Ms: round(s.p50Ms),
    p99Ms: round(s.p99Ms),
    maxMs: round(s.maxMs),
    ...(note ? { note } : {}),
  }
}

/** A row with a rate: `n` operations in `totalMs`. */
export function rateRow(
  group: string,
  name: string,
  n: number,
  totalMs: number,
  unit = 'ops/s',
  note?: string,
): BenchResult {
  return { group, name, n, value: Math.round((n * 1000) / totalMs), unit, ...(note ? { note } : {}) }
}

export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

/** The results as an aligned text table, one section per group. */
export function formatTable(results: readonly BenchResult[]): string {
  const header = ['group', 'benchmark', 'n', 'result', 'unit', 'mean ms', 'p99 ms', 'note']
  const rows = results.map((r) => [
    r.group,
    r.name,
    String(r.n),
    Number.isNaN(r.value) ? '-' : String(r.value),
    r.unit,
    r.meanMs === undefined ? '' : String(r.meanMs),
    r.p99Ms === undefined ? '' : String(r.p99Ms),
    r.note ?? '',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        i === 2 || i === 3 || i === 5 || i === 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/**
 * CPU seconds (user + system) every process has used so far, from /proc: this process as
 * `benchmark`, the processes in `named` by their pid, every other by its command name (summed:
 * `nats-server`, `samba`). Two readings around a run say who kept the cores busy.
 */
export async function cpuByProcess(
  named: Record<string, number | undefined> = {},
): Promise<Map<string, number>> {
  const labels = new Map<string, string>([[String(process.pid), 'benchmark']])
  for (const [label, pid] of Object.entries(named)) if (pid !== undefined) labels.set(String(pid), label)
  const out = new Map<string, number>()
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    const close = stat.lastIndexOf(')')
    if (close < 0) continue
    const fields = stat.slice(close + 2).split(' ')
    // utime and stime, fields 14 and 15 of proc(5), in clock ticks (100 per second on Linux).
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100
    const label = labels.get(pid) ?? stat.slice(stat.indexOf('(') + 1, close)
    out.set(label, (out.get(label) ?? 0) + seconds)
  }
  return out
}

/** What each process used between two readings of cpuByProcess, largest first (over 0.05 s). */
export function cpuUsed(before: Map<string, number>, after: Map<string, number>): Array<[string, number]> {
  return [...after]
    .map(([label, s]): [string, number] => [label, s - (before.get(label) ?? 0)])
    .filter(([, s]) => s > 0.05)
    .sort((a, b) => b[1] - a[1])
}
