import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { writeFileAtomic } from './layout.ts'

/**
 * Processes of the lab run in the background, detached from the command that started them: their
 * own session and process group (setsid), stdin from /dev/null, stdout and stderr appended to their
 * log. Each leaves a pid file under `.lab/run/<name>.pid` holding a JSON record; the start time
 * from /proc guards against killing an unrelated process that reused the pid after a reboot.
 */
export interface PidRecord {
  name: string
  pid: number
  /** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot). */
  startTicks: string
  command: string[]
  log: string
  startedAt: string
}

export interface StartDetachedOptions {
  name: string
  command: string
  args: string[]
  log: string
  runDir: string
  env?: NodeJS.ProcessEnv
  cwd?: string
}

function statFields(stat: string): string[] {
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** The start time of a live pid, or undefined when there is no such process (or only a zombie). */
export async function processStartTicks(pid: number): Promise<string | undefined> {
  try {
    const fields = statFields(await readFile(`/proc/${pid}/stat`, 'utf8'))
    // fields[0] is field 3 (state); field 22 is fields[19].
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined
    return fields[19]
  } catch {
    return undefined
  }
}

export async function isAlive(record: PidRecord): Promise<boolean> {
  const ticks = await processStartTicks(record.pid)
  return ticks !== undefined && ticks === record.startTicks
}

function groupHasMembers(pid: number): boolean {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

export async function startDetached(options: StartDetachedOptions): Promise<PidRecord> {
  const fd = openSync(options.log, 'a', 0o600)
  try {
    const child = spawn(options.command, options.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: options.env ?? process.env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
    })
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', (err) =>
        reject(new Error(`${options.name}: cannot start ${options.command}: ${err.message}`)),
      )
    })
    child.unref()
    const pid = child.pid
    if (pid === undefined) throw new Error(`${options.name}: ${options.command} did not start`)
    const startTicks = await processStartTicks(pid)
    if (startTicks === undefined) throw new Error(`${options.name} exited at once; see ${options.log}`)
    const record: PidRecord = {
      name: options.name,
      pid,
      startTicks,
      command: [options.command, ...options.args],
      log: options.log,
      startedAt: new Date().toISOString(),
    }
    await writeFileAtomic(
      pidFile(options.runDir, options.name),
      `${JSON.stringify(record, null, 2)}\n`,
      0o600,
    )
    return record
  } finally {
    closeSync(fd)
  }
}

export function pidFile(runDir: string, name: string): string {
  return join(runDir, `${name}.pid`)
}

export async function readPidRecord(runDir: string, name: string): Promise<PidRecord | undefined> {
  try {
    return JSON.parse(await readFile(pidFile(runDir, name), 'utf8')) as PidRecord
  } catch {
    return undefined
  }
}

export async function listPidRecords(runDir: string): Promise<PidRecord[]> {
  let names: string[]
  try {
    names = await readdir(runDir)
  } catch {
    return []
  }
  const records: PidRecord[] = []
  for (const file of names.filter((n) => n.endsWith('.pid')).sort()) {
    const record = await readPidRecord(runDir, file.slice(0, -'.pid'.length))
    if (record) records.push(record)
  }
  return records
}

/**
 * SIGTERM to the process group, then SIGKILL after `graceMs` to whatever of the group is left.
 * Removes the pid file. Resolves once nothing of the group is alive.
 */
export async function stopProcess(
  runDir: string,
  record: PidRecord,
  graceMs = 5000,
): Promise<'stopped' | 'killed' | 'not running'> {
  let outcome: 'stopped' | 'killed' | 'not running' = 'not running'
  if (await isAlive(record)) {
    outcome = 'stopped'
    signalGroup(record.pid, 'SIGTERM')
    const deadline = Date.now() + graceMs
    while ((await isAlive(record)) && Date.now() < deadline) await sleep(50)
    if (await isAlive(record)) outcome = 'killed'
    // The group may hold children of the leader (a shell's job, samba's workers): none may survive.
    if (outcome === 'killed' || groupHasMembers(record.pid)) signalGroup(record.pid, 'SIGKILL')
    const killDeadline = Date.now() + 5000
    while (((await isAlive(record)) || groupHasMembers(record.pid)) && Date.now() < killDeadline)
      await sleep(25)
  }
  await rm(pidFile(runDir, record.name), { force: true })
  return outcome
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/**
 * Runs the readiness wait of a process just started; when it fails (the process exited, or is
 * alive but never became ready) the process is stopped and its pid file removed before the error
 * goes on, so a failed start leaves nothing running.
 */
export async function readyOrStopped(
  runDir: string,
  record: PidRecord,
  wait: () => Promise<void>,
): Promise<void> {
  try {
    await wait()
  } catch (error) {
    await stopProcess(runDir, record)
    throw error
  }
}
