import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { isProcessAlive, lock, tryLock, unlock } from '../src/index.ts'

/** The pid of a process that has certainly exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
  return Number(child.stdout.toString())
}

test('a lock is taken once, held while its owner lives, and released only by its owner', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'krbfleet-locks-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  const lockDir = join(root, 'the-lock')
  assert.equal(await tryLock(lockDir), true)
  assert.equal(await readFile(join(lockDir, 'pid'), 'utf8'), String(process.pid))
  assert.equal(await tryLock(lockDir), false, 'held by a live process (us)')
  await unlock(lockDir, process.pid + 1_000_000)
  assert.equal(existsSync(lockDir), true, 'someone else cannot release it')
  await unlock(lockDir)
  assert.equal(existsSync(lockDir), false)
})

test("a dead owner's lock is reclaimed", async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'krbfleet-locks-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  const lockDir = join(root, 'stale')
  const dead = deadPid()
  assert.equal(isProcessAlive(dead), false)
  assert.equal(await tryLock(lockDir, dead), true)
  assert.equal(await tryLock(lockDir), true, 'reclaimed from the dead pid')
  assert.equal(await readFile(join(lockDir, 'pid'), 'utf8'), String(process.pid))
})

test('of many concurrent claimants exactly one wins', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'krbfleet-locks-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  const lockDir = join(root, 'contended')
  const results = await Promise.all(Array.from({ length: 20 }, () => tryLock(lockDir)))
  assert.equal(results.filter(Boolean).length, 1)
})

test('lock() waits for the holder and names the lock when it gives up', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'krbfleet-locks-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  const lockDir = join(root, 'waited')
  assert.equal(await tryLock(lockDir), true)
  await assert.rejects(lock(lockDir, 300, 'the test lock'), /waiting for the test lock/)
  const waiting = lock(lockDir, 30_000, 'the test lock')
  await unlock(lockDir)
  await waiting
  assert.equal(await readFile(join(lockDir, 'pid'), 'utf8'), String(process.pid))
})

test('isProcessAlive rejects nonsense pids', () => {
  assert.equal(isProcessAlive(process.pid), true)
  assert.equal(isProcessAlive(0), false)
  assert.equal(isProcessAlive(-1), false)
  assert.equal(isProcessAlive(Number.NaN), false)
})
