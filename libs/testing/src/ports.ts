import { randomInt } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { chmod, mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { tryLock, unlock } from './locks.ts'

/**
 * Ports for the servers the harness starts. A port taken from the kernel with listen(0) is free
 * only at that moment: before nats-server binds it, or while a test restarts nats-server on it,
 * another process's listen(0) or outgoing connection may take it (test files run in parallel).
 * So ports come from 20000-32767, below Linux's ephemeral range (32768-60999), where the kernel
 * never hands out a port by itself, and each is leased through a lock folder
 * `<root>/<port>` holding our pid, like the loopback addresses. A lease lasts as long as this
 * process; the lease of a dead process is reclaimed.
 */
export const portLockRoot = process.env.KRBFLEET_PORT_LOCK_DIR ?? '/tmp/krbfleet-ports'

const firstPort = 20_000
const lastPort = 32_767
const leased = new Set<string>()

/** True when this process can listen on host:port right now. */
export async function canListen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

/** A port nobody listens on, leased to this process until it exits (never handed out twice). */
export async function freePort(host = '127.0.0.1', lockRoot = portLockRoot): Promise<number> {
  await mkdir(lockRoot, { recursive: true })
  // Shared by every user's test processes (tests also run as nobody); sticky like /tmp.
  await chmod(lockRoot, 0o1777).catch(() => {})
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = randomInt(firstPort, lastPort + 1)
    const lockDir = join(lockRoot, String(port))
    if (!(await tryLock(lockDir))) continue
    if (await canListen(port, host)) {
      leased.add(lockDir)
      return port
    }
    await unlock(lockDir)
  }
  throw new Error(`no free port in ${firstPort}-${lastPort} after 500 tries (see ${lockRoot})`)
}

// Gives the leases back when this process ends normally (a crashed one's are reclaimed later).
process.once('exit', () => {
  for (const lockDir of leased) {
    try {
      if (readFileSync(join(lockDir, 'pid'), 'utf8') === String(process.pid))
        rmSync(lockDir, { recursive: true, force: true })
    } catch {
      // Already reclaimed or removed: nothing to give back.
    }
  }
})
