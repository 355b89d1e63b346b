import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { lockOwner, tryLock, unlock } from './locks.ts'

const run = promisify(execFile)

/**
 * Loopback addresses for servers that need fixed ports (a Samba DC listens on 88, 389, 636, ...).
 * Each DC takes its own 127.0.0.N so that test files running in parallel never collide; Samba
 * only binds addresses an interface carries, so the address is added to `lo` when missing, and
 * removed again when the lease that added it is released (an address that was already there, set
 * up by someone else, is left alone).
 */
export const addressLockRoot = process.env.KRBFLEET_ADDRESS_LOCK_DIR ?? '/tmp/krbfleet-dc-addr'

export interface LoopbackLease {
  readonly address: string
  /** True when the harness put the address on `lo` (now or under an earlier, crashed lease). */
  readonly added: boolean
  /** Gives the lease up; removes the address from `lo` when the harness added it. */
  release(): Promise<void>
  /**
   * Passes the lease to another process (the lab's detached Samba) without a gap and without
   * removing the address; whoever later calls releaseLoopbackAddress(address, {pid}) removes it.
   */
  handOver(pid: number): Promise<void>
}

export async function loopbackAddresses(): Promise<Set<string>> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', 'lo'])
  const found = new Set<string>()
  for (const match of stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)) if (match[1]) found.add(match[1])
  return found
}

/**
 * `<root>/<address>.added` records that the harness added the address to `lo`. It lives beside the
 * lock folder, not inside it, so that it survives the reclaiming of a dead owner's lock: the next
 * lease of that address then still knows the address is the harness's to remove.
 */
const addedMarker = (root: string, address: string) => join(root, `${address}.added`)

/**
 * Makes `lo` carry the address (as root); otherwise explains what to run. Resolves true when this
 * call added it.
 */
export async function ensureLoopbackAddress(address: string): Promise<boolean> {
  if ((await loopbackAddresses()).has(address)) return false
  if (process.getuid?.() !== 0) {
    throw new Error(`loopback address ${address} is missing; run as root: ip addr add ${address}/8 dev lo`)
  }
  try {
    await run('ip', ['addr', 'add', `${address}/8`, 'dev', 'lo'])
    return true
  } catch (error) {
    // Another process may have added it at the same moment.
    if (!(await loopbackAddresses()).has(address)) throw error
    return false
  }
}

/** Takes the address off `lo`; one that is already gone is fine. */
export async function removeLoopbackAddress(address: string): Promise<void> {
  if (address === '127.0.0.1') throw new Error('refusing to remove 127.0.0.1 from lo')
  if (!(await loopbackAddresses()).has(address)) return
  try {
    await run('ip', ['addr', 'del', `${address}/8`, 'dev', 'lo'])
  } catch (error) {
    if ((await loopbackAddresses()).has(address)) throw error
  }
}

/**
 * Ends the lease of `address` held in the name of `pid` (default: this process): removes the
 * address from `lo` if the harness added it, then frees the lock. Does nothing when another
 * process holds the lease (it reclaimed it after `pid` died, and now owns the address).
 */
export async function releaseLoopbackAddress(
  address: string,
  options: { pid?: number; lockRoot?: string } = {},
): Promise<void> {
  const root = options.lockRoot ?? addressLockRoot
  const lockDir = join(root, address)
  const pid = options.pid ?? process.pid
  if ((await lockOwner(lockDir)) !== pid) return
  // Remove while still holding the lock: nobody else may be using the address at this moment.
  const marker = addedMarker(root, address)
  if (existsSync(marker)) {
    await removeLoopbackAddress(address)
    await rm(marker, { force: true })
  }
  await unlock(lockDir, pid)
}

/** True when something accepts a TCP connection on host:port (within `timeoutMs`). */
export async function portAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host, port })
    socket.setTimeout(timeoutMs, () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Leases a free 127.0.0.N (N from 2 up) with a lock folder `<root>/127.0.0.N` holding our pid;
 * the lease of a dead process is reclaimed. An address where something still answers on one of
 * `busyPorts` (a server not started by this harness) is skipped. release() removes the address
 * from `lo` again when the harness added it.
 */
export async function leaseLoopbackAddress(
  options: { address?: string; busyPorts?: number[]; lockRoot?: string } = {},
): Promise<LoopbackLease> {
  const root = options.lockRoot ?? addressLockRoot
  await mkdir(root, { recursive: true, mode: 0o1777 })
  const candidates = options.address
    ? [options.address]
    : Array.from({ length: 253 }, (_, index) => `127.0.0.${index + 2}`)
  for (const address of candidates) {
    const lockDir = join(root, address)
    if (!(await tryLock(lockDir))) continue
    let inUse = false
    for (const port of options.busyPorts ?? []) if (await portAnswers(address, port)) inUse = true
    if (inUse) {
      await unlock(lockDir)
      continue
    }
    const marker = addedMarker(root, address)
    let added: boolean
    try {
      // Written before `ip addr add`: a crash in between leaves a marker for an absent address
      // (harmless), never an added address without its marker.
      if (!(await loopbackAddresses()).has(address)) await writeFile(marker, String(process.pid))
      added = (await ensureLoopbackAddress(address)) || existsSync(marker)
      if (!added) await rm(marker, { force: true })
    } catch (error) {
      await rm(marker, { force: true })
      await unlock(lockDir)
      throw error
    }
    let released = false
    return {
      address,
      added,
      release: async () => {
        if (released) return
        released = true
        await releaseLoopbackAddress(address, { lockRoot: root })
      },
      handOver: async (pid: number) => {
        if (released) throw new Error(`the lease of ${address} was already released`)
        released = true
        // Rename over the pid file: the lock never looks free or ownerless in between.
        const temp = join(lockDir, `pid.${process.pid}.tmp`)
        await writeFile(temp, String(pid), { mode: 0o644 })
        await rename(temp, join(lockDir, 'pid'))
      },
    }
  }
  throw new Error(
    options.address
      ? `loopback address ${options.address} is leased by another live process or busy (see ${root})`
      : `no free loopback address in 127.0.0.2-254 (see ${root})`,
  )
}
