import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'

/** A service `main.ts` started by a test as its own process, with everything it printed. */
export interface StartedMain {
  child: ChildProcess
  exited: Promise<[number | null, NodeJS.Signals | null]>
  output(): string
}

const started: ChildProcess[] = []

/**
 * Starts `node <mainTs>` with only PATH from this environment (a KRBFLEET_* variable of the caller
 * must not leak in) plus `env`; stdout and stderr are collected for assertions.
 */
export function spawnMain(mainTs: string, env: Record<string, string>): StartedMain {
  const child = spawn(process.execPath, [mainTs], {
    env: { PATH: process.env.PATH ?? '', KRBFLEET_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(child)
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, exited, output: () => output }
}

/** SIGKILLs every process spawnMain started that is still running (for `after` hooks). */
export function killMains(): void {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

/**
 * Polls until `check` holds, bounded by the test's timeout rather than by a timed assertion; fails
 * at once, with its output, if the watched process exits meanwhile.
 */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  watched?: StartedMain,
): Promise<void> {
  for (;;) {
    if (watched && watched.child.exitCode !== null) {
      assert.fail(`main.ts exited (${watched.child.exitCode}) while waiting for ${what}: ${watched.output()}`)
    }
    if (await check().catch(() => false)) return
    await sleep(50)
  }
}
