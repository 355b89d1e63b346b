import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'

/**
 * Children started by the harness get stdin as a pipe from this process: nats-server is wrapped so
 * that it exits when the pipe closes, and `samba -i` exits by itself. When the test process dies,
 * even by SIGKILL, the kernel closes the pipe and the servers follow it (lab/NOTES.md).
 */
export interface ManagedProcess {
  readonly child: ChildProcess
  readonly name: string
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>
  readonly exited: Promise<number | null>
}

export interface StartProcessOptions {
  name: string
  command: string
  args: string[]
  /** File that receives stdout and stderr. */
  logFile: string
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** When true the child gets `sh -c 'cmd & read; kill'`-style supervision: it dies when our stdin pipe closes. */
  dieWithParent?: boolean
}

// fd 3 keeps our stdin pipe for the watcher: background jobs of a non-interactive shell otherwise
// read /dev/null. The second `wait` makes the wrapper outlive a TERMed server until it has exited.
const watchdogScript = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- & child=$!',
  "trap 'kill -TERM $child 2>/dev/null' TERM INT",
  '( cat <&3 >/dev/null; kill -TERM $child 2>/dev/null; sleep 3; kill -KILL $child 2>/dev/null ) &',
  'watcher=$!',
  'wait $child; code=$?',
  'wait $child 2>/dev/null && code=$?',
  'kill $watcher 2>/dev/null',
  'exit $code',
].join('\n')

export function startProcess(options: StartProcessOptions): ManagedProcess {
  const log = createWriteStream(options.logFile, { flags: 'a' })
  const spawnOptions: SpawnOptions = {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }
  // A shell watchdog: when our end of stdin closes (we exited or crashed), `read` returns and the
  // server is killed. `exec` is not used so that the watchdog stays alive beside the server.
  const child =
    options.dieWithParent === false
      ? spawn(options.command, options.args, spawnOptions)
      : spawn('/bin/sh', ['-c', watchdogScript, 'watchdog', options.command, ...options.args], spawnOptions)
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  // Never let the pipe keep the event loop alive on its own.
  child.stdin?.on('error', () => {})
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return {
    child,
    name: options.name,
    exited,
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
      child.stdin?.destroy()
    },
  }
}
