import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  addressLockRoot,
  type LoopbackLease,
  leaseLoopbackAddress,
  loopbackAddresses,
  releaseLoopbackAddress,
} from '../src/addresses.ts'

/**
 * Real `ip addr` on `lo` (root only, like startDc). Addresses come from the top of the range
 * (DCs lease from 127.0.0.2 up) and are leased under the shared lock root, so that a DC of a test
 * running in parallel can never be handed the same one.
 */

async function leaseHighAddress(): Promise<LoopbackLease> {
  for (let n = 254; n >= 230; n--) {
    const address = `127.0.0.${n}`
    if ((await loopbackAddresses()).has(address)) continue
    try {
      return await leaseLoopbackAddress({ address })
    } catch {
      // leased by someone else: next
    }
  }
  throw new Error('no free address in 127.0.0.230-254')
}

const onLo = async (address: string) => (await loopbackAddresses()).has(address)

/** The pid of a process that has already exited (a crashed lease owner). */
async function deadPid(): Promise<number> {
  const child = spawn('true')
  const pid = child.pid
  await new Promise((resolve) => child.once('exit', resolve))
  assert.ok(pid)
  return pid
}

test('a lease adds a missing address to lo and its release removes it again', async () => {
  const lease = await leaseHighAddress()
  assert.equal(lease.added, true)
  assert.equal(await onLo(lease.address), true)
  await lease.release()
  assert.equal(await onLo(lease.address), false, `${lease.address} is gone from lo`)
  assert.equal(existsSync(join(addressLockRoot, lease.address)), false, 'lock freed')
  assert.equal(existsSync(join(addressLockRoot, `${lease.address}.added`)), false, 'marker gone')
  await lease.release()
})

test('an address that was on lo before the lease stays there after the release', async (t) => {
  // Our own lease (shared root) keeps every other test away while the address is "someone else's".
  const outer = await leaseHighAddress()
  t.after(() => outer.release())
  const privateRoot = await mkdtemp(join(tmpdir(), 'krbfleet-addr-test-'))
  t.after(() => rm(privateRoot, { recursive: true, force: true }))
  const inner = await leaseLoopbackAddress({ address: outer.address, lockRoot: privateRoot })
  assert.equal(inner.added, false, 'the address was already there')
  await inner.release()
  assert.equal(await onLo(outer.address), true, 'left alone')
  await outer.release()
  assert.equal(await onLo(outer.address), false)
})

test('a handed-over lease keeps the address until its new owner releases it', async (t) => {
  const lease = await leaseHighAddress()
  const { address } = lease
  const holder = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.after(() => holder.kill('SIGKILL'))
  assert.ok(holder.pid)
  await lease.handOver(holder.pid)
  assert.equal((await readFile(join(addressLockRoot, address, 'pid'), 'utf8')).trim(), String(holder.pid))
  await lease.release()
  assert.equal(await onLo(address), true, 'release() after handOver does nothing')
  await releaseLoopbackAddress(address, { pid: process.pid })
  assert.equal(await onLo(address), true, 'someone who does not hold the lease cannot remove it')
  await assert.rejects(leaseLoopbackAddress({ address }), /leased by another live process/)
  await releaseLoopbackAddress(address, { pid: holder.pid })
  assert.equal(await onLo(address), false, 'the new owner released it: gone')
  assert.equal(existsSync(join(addressLockRoot, address)), false)
})

test('the address of a crashed owner is removed by the next lease that reclaims it', async () => {
  const first = await leaseHighAddress()
  const { address } = first
  await first.handOver(await deadPid())
  assert.equal(await onLo(address), true, 'the crashed owner left the address behind')
  const second = await leaseLoopbackAddress({ address })
  assert.equal(second.added, true, 'the harness added it, under the dead lease')
  await second.release()
  assert.equal(await onLo(address), false)
})
