import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { tryLock, unlock } from './locks.ts'

const run = promisify(execFile)

/**
 * Loopback addresses for servers that need fixed ports (a Samba DC listens on 88, 389, 636, ...).
 * Each DC takes its own 127.0.0.N so that test files running in parallel never collide; Samba
 * only binds addresses an interface carries, so the address is added to `lo` when missing.
 */
export const addressLockRoot = process.env.KRBFLEET_ADDRESS_LOCK_DIR ?? '/tmp/krbfleet-dc-addr'

export interface LoopbackLease {
  readonly address: string
  release(): Promise<void>
}

async function loopbackAddresses(): Promise<Set<string>> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', 'lo'])
  const found = new Set<string>()
  for (const match of stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)) if (match[1]) found.add(match[1])
  return found
}

/** Makes `lo` carry the address (as root); otherwise explains what to run. */
export async function ensureLoopbackAddress(address: string): Promise<void> {
  if ((await loopbackAddresses()).has(address)) return
  if (process.getuid?.() !== 0) {
    throw new Error(`loopback address ${address} is missing; run as root: ip addr add ${address}/8 dev lo`)
  }
  try {
    await run('ip', ['addr', 'add', `${address}/8`, 'dev', 'lo'])
  } catch (error) {
    // Another process may have added it at the same moment.
    if (!(await loopbackAddresses()).has(address)) throw error
  }
}

/** True when something accepts a TCP connection on host:port (within half a second). */
export async function portAnswers(host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host, port })
    socket.setTimeout(500, () => {
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
 * `busyPorts` (a server not started by this harness) is skipped.
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
    await ensureLoopbackAddress(address).catch(async (error: unknown) => {
      await unlock(lockDir)
      throw error
    })
    return { address, release: () => unlock(lockDir) }
  }
  throw new Error(
    options.address
      ? `loopback address ${options.address} is leased by another live process or busy (see ${root})`
      : `no free loopback address in 127.0.0.2-254 (see ${root})`,
  )
}
