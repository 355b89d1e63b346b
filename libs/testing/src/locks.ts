import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Cross-process locks made of directories: `mkdir` is atomic on every local file system, so the
 * one process whose mkdir succeeds owns the lock. The owner writes its pid inside; a lock whose
 * owner is dead (crashed test, SIGKILL) is reclaimed by renaming it away first, so that two
 * processes reclaiming the same stale lock cannot both win.
 */

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The pid written in a lock folder, or undefined when the lock is free (or being taken). */
export async function lockOwner(lockDir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(join(lockDir, 'pid'), 'utf8'), 10)
    return Number.isInteger(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Tries once to take the lock. Returns false when a live process holds it. A lock without a pid
 * file yet (its owner is between mkdir and writeFile) counts as held.
 */
export async function tryLock(lockDir: string, pid = process.pid): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await mkdir(lockDir)
      await writeFile(join(lockDir, 'pid'), String(pid), { mode: 0o644 })
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const owner = await lockOwner(lockDir)
    if (owner === undefined || isProcessAlive(owner)) return false
    // Stale: move it aside atomically; only one reclaimer's rename succeeds.
    const aside = `${lockDir}.stale-${process.pid}-${Date.now()}`
    try {
      await rename(lockDir, aside)
    } catch {
      return false
    }
    // The rename may have taken a fresh lock created after our read; give it back if so.
    const movedOwner = await lockOwner(aside)
    if (movedOwner !== owner) {
      await rename(aside, lockDir).catch(() => {})
      return false
    }
    await rm(aside, { recursive: true, force: true })
  }
  return false
}

export async function unlock(lockDir: string, pid = process.pid): Promise<void> {
  if ((await lockOwner(lockDir)) !== pid) return
  await rm(lockDir, { recursive: true, force: true })
}

/** Waits (polling) until the lock is ours. */
export async function lock(lockDir: string, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await tryLock(lockDir)) return
    if (Date.now() > deadline) {
      const owner = await lockOwner(lockDir)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (${lockDir}, held by pid ${owner})`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
