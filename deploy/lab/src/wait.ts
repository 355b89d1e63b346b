import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { isAlive, type PidRecord } from './processes.ts'

/** A part of the lab that failed: names the part and where its log is. */
export class LabPartError extends Error {
  readonly part: string
  readonly log: string | undefined
  constructor(part: string, message: string, log?: string) {
    super(`${part}: ${message}${log ? `\n  see its log: ${log}` : ''}`)
    this.name = 'LabPartError'
    this.part = part
    this.log = log
  }
}

/** The HTTP status of a GET, or undefined when nothing answers. */
export async function httpStatus(url: string, timeoutMs = 2000): Promise<number | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    await response.body?.cancel()
    return response.status
  } catch {
    return undefined
  }
}

let interruption: AbortSignal | undefined

/**
 * The signal that aborts `up` (Ctrl-C / SIGTERM in lab.ts): every wait checks it, so that an
 * interrupted start-up goes through the same clean-up as a failed one.
 */
export function setInterruption(signal: AbortSignal | undefined): void {
  interruption = signal
}

export function checkInterrupted(): void {
  interruption?.throwIfAborted()
}

/**
 * Polls `probe` until it returns true. Fails early, naming the part and its log, when the process
 * exits; fails after `timeoutMs` otherwise.
 */
export async function waitUntil(
  part: string,
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; process?: PidRecord; log?: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    checkInterrupted()
    if (await probe()) return
    if (options.process && !(await isAlive(options.process))) {
      const log = options.log ?? options.process.log
      throw new LabPartError(part, `exited before ${what}${await lastLines(log)}`, log)
    }
    if (Date.now() > deadline) {
      throw new LabPartError(
        part,
        `not ${what} after ${Math.round(options.timeoutMs / 1000)} s`,
        options.log ?? options.process?.log,
      )
    }
    await sleep(100)
  }
}

/** The end of a part's log, to show why it stopped without opening the file (a service's JSON lines are cut). */
async function lastLines(log: string | undefined, count = 5): Promise<string> {
  if (!log) return ''
  const text = await readFile(log, 'utf8').catch(() => '')
  const lines = text.trimEnd().split('\n').filter(Boolean).slice(-count)
  return lines.length === 0 ? '' : `; its log ends:\n${lines.map((l) => `    ${l.slice(0, 300)}`).join('\n')}`
}
