import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
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
 * Polls until `check` holds; fails at once, with its output, if the watched process exits
 * meanwhile, and after `timeoutMs` (60 s) otherwise: a correctness bound, not a speed goal (those
 * live in `npm run bench`), there so that a wait never outlives its test and keeps the test process
 * alive after the test runner gave up on it.
 */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  watched?: StartedMain,
  timeoutMs = 60_000,
): Promise<void> {
  // Bounded: a wait that never ends would outlive its test and keep the test process alive.
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (watched && watched.child.exitCode !== null) {
      assert.fail(`main.ts exited (${watched.child.exitCode}) while waiting for ${what}: ${watched.output()}`)
    }
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs / 1000} s: ${what}`)
    await sleep(50)
  }
}

const httpStatus = async (url: string) => (await fetch(url)).status

/**
 * The readiness contract of every service main: with NATS gone, /readyz answers 503 while /healthz
 * stays 200 (alive all the same); with NATS back, /readyz is 200 again.
 */
export async function assertReadinessFollowsNats(
  nats: { kill(): Promise<void>; start(): Promise<void> },
  base: string,
  watched: StartedMain,
): Promise<void> {
  await nats.kill()
  await until('/readyz 503', async () => (await httpStatus(`${base}/readyz`)) === 503, watched)
  assert.equal(await httpStatus(`${base}/healthz`), 200)
  await nats.start()
  await until('/readyz 200 again', async () => (await httpStatus(`${base}/readyz`)) === 200, watched)
}

/** SIGTERM ends the main cleanly (exit 0, no signal); returns how long it took, for a diagnostic. */
export async function assertStopsOnSigterm(watched: StartedMain): Promise<number> {
  const stopping = Date.now()
  watched.child.kill('SIGTERM')
  const [code, signal] = await watched.exited
  assert.equal(signal, null, watched.output())
  assert.equal(code, 0, watched.output())
  return Date.now() - stopping
}

/**
 * The failpoint of a crash test's main (services/<name>/test/crashing-main.ts): the point named by
 * the process's first argument, one of `points` (anything else prints the usage and exits 2), and
 * a hook that SIGKILLs the process when it is reached, after logging it: no shutdown, no drain, no
 * ack of anything in flight.
 */
export function crashAtArgument<P extends string>(
  points: readonly P[],
): (point: P, logger: { fatal(obj: object, msg: string): void; flush(): void }) => void {
  const crashAt = process.argv[2] ?? ''
  if (!(points as readonly string[]).includes(crashAt)) {
    process.stderr.write(`usage: crashing-main.ts ${points.join('|')}\n`)
    process.exit(2)
  }
  return (point, logger) => {
    if (point !== crashAt) return
    logger.fatal({ failpoint: point }, 'failpoint reached: killing the process')
    logger.flush()
    process.kill(process.pid, 'SIGKILL')
  }
}
