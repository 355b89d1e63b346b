import { Writable } from 'node:stream'
import { type Logger, pino } from 'pino'

export interface CapturedLogs {
  logger: Logger
  /** Every record written so far, parsed. */
  records(): Array<Record<string, unknown> & { msg?: string; level?: number }>
  /** Resolves when a record matching `predicate` has been written. */
  waitFor(
    predicate: (r: Record<string, unknown> & { msg?: string }) => boolean,
  ): Promise<Record<string, unknown>>
}

/** A real pino logger whose JSON records the test can read. */
export function captureLogs(level = 'debug'): CapturedLogs {
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<{
    predicate: (r: Record<string, unknown>) => boolean
    resolve: (r: Record<string, unknown>) => void
  }> = []
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) {
        if (!line.trim()) continue
        const record = JSON.parse(line) as Record<string, unknown>
        lines.push(record)
        for (const w of [...waiters]) {
          if (w.predicate(record)) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(record)
          }
        }
      }
      callback()
    },
  })
  const logger = pino({ level }, stream)
  return {
    logger,
    records: () => lines,
    waitFor(predicate) {
      const found = lines.find(predicate)
      if (found) return Promise.resolve(found)
      return new Promise((resolve) => waiters.push({ predicate, resolve }))
    },
  }
}

/** A promise with its resolver, for "wait until the handler saw X" without timed assertions. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}
