import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ErrorCode, KrbfleetError, TerminalError } from '@krbfleet/contracts'
import fc from 'fast-check'
import { pino } from 'pino'
import { backoffDelay, ReconcileDeferred, ReconcileQueue, type ReconcileQueueOptions } from '../src/index.ts'
import { signal } from './helpers.ts'

const logger = pino({ level: 'silent' })
const fast = { initialMs: 1, maxMs: 4 }

function queue(
  options: Partial<ReconcileQueueOptions> & Pick<ReconcileQueueOptions, 'reconcile'>,
): ReconcileQueue {
  return new ReconcileQueue({
    name: 'test',
    listKeys: () => [],
    resyncIntervalMs: 0,
    logger,
    backoff: fast,
    ...options,
  })
}

describe('ReconcileQueue', () => {
  test('a deferred key runs again after the backoff and is not logged as a failure', async () => {
    const records: Array<{ level: number; msg: string }> = []
    const capture = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line)) })
    let runs = 0
    const q = queue({
      logger: capture,
      reconcile: async () => {
        runs++
        if (runs < 3) throw new ReconcileDeferred('held by another replica')
      },
    })
    q.enqueue('a')
    q.start()
    while (runs < 3) await new Promise((r) => setTimeout(r, 2))
    await q.whenIdle()
    await q.stop()
    assert.equal(runs, 3)
    assert.equal(records.filter((r) => r.msg === 'reconcile deferred').length, 2)
    assert.equal(records.filter((r) => r.level >= 40).length, 0, 'nothing at warn or above')
  })

  test('keys enqueued while waiting collapse into one run', async () => {
    const runs: string[] = []
    const q = queue({ reconcile: async (key) => void runs.push(key) })
    q.enqueue('a')
    q.enqueue('b')
    q.enqueue('a')
    q.enqueue('a')
    q.start()
    await q.whenIdle()
    await q.stop()
    assert.deepEqual(runs, ['a', 'b'])
  })

  test('a key enqueued while it runs runs once more afterwards, never twice at once', async () => {
    const runs: string[] = []
    let running = 0
    let maxRunning = 0
    const firstRunStarted = signal()
    const releaseFirst = signal()
    const q = queue({
      concurrency: 4,
      reconcile: async (key) => {
        running++
        maxRunning = Math.max(maxRunning, running)
        runs.push(key)
        if (runs.length === 1) {
          firstRunStarted.resolve()
          await releaseFirst.promise
        }
        running--
      },
    })
    q.start()
    q.enqueue('a')
    await firstRunStarted.promise
    q.enqueue('a')
    q.enqueue('a')
    assert.deepEqual(q.stats(), { queued: 0, running: 1, retrying: 0 })
    releaseFirst.resolve()
    await q.whenIdle()
    await q.stop()
    assert.deepEqual(runs, ['a', 'a'])
    assert.equal(maxRunning, 1)
  })

  test('different keys run concurrently up to the limit', async () => {
    let running = 0
    let maxRunning = 0
    const gate = signal()
    const q = queue({
      concurrency: 2,
      reconcile: async () => {
        running++
        maxRunning = Math.max(maxRunning, running)
        if (running === 2) gate.resolve()
        await gate.promise
        running--
      },
    })
    for (const k of ['a', 'b', 'c', 'd']) q.enqueue(k)
    q.start()
    await q.whenIdle()
    await q.stop()
    assert.equal(maxRunning, 2)
  })

  test('failures retry with backoff until the key succeeds', async () => {
    const attempts = new Map<string, number>()
    const q = queue({
      reconcile: async (key) => {
        const n = (attempts.get(key) ?? 0) + 1
        attempts.set(key, n)
        if (n < 4) throw new KrbfleetError(ErrorCode.Unavailable, 'directory unavailable')
      },
    })
    q.start()
    q.enqueue('a')
    await q.whenIdle()
    await q.stop()
    assert.equal(attempts.get('a'), 4)
  })

  test('a TerminalError stops retrying until the key is enqueued again', async () => {
    let calls = 0
    const q = queue({
      reconcile: async () => {
        calls++
        if (calls === 1) throw new TerminalError('account vanished')
        if (calls === 2) throw new KrbfleetError(ErrorCode.RuleViolation, 'not allowed')
      },
    })
    q.start()
    q.enqueue('a')
    await q.whenIdle()
    assert.equal(calls, 1)
    assert.deepEqual(q.stats(), { queued: 0, running: 0, retrying: 0 })
    q.enqueue('a')
    await q.whenIdle()
    assert.equal(calls, 2, 'a non-retryable KrbfleetError is not retried either')
    q.enqueue('a')
    await q.whenIdle()
    await q.stop()
    assert.equal(calls, 3)
  })

  test('the resync enqueues every key of listKeys(), at start and periodically', async () => {
    const seen = new Map<string, number>()
    const twice = signal()
    const q = new ReconcileQueue({
      name: 'resync',
      logger,
      resyncIntervalMs: 5,
      listKeys: async () => ['x', 'y', 'z'],
      reconcile: async (key) => {
        seen.set(key, (seen.get(key) ?? 0) + 1)
        if ([...seen.values()].every((n) => n >= 2) && seen.size === 3) twice.resolve()
      },
    })
    q.start()
    await twice.promise
    await q.stop()
    assert.deepEqual([...seen.keys()].sort(), ['x', 'y', 'z'])
  })

  test('a failing listKeys() is logged and does not stop the queue', async () => {
    let listings = 0
    const listedAgain = signal()
    const runs: string[] = []
    const q = new ReconcileQueue({
      name: 'flaky-list',
      logger,
      resyncIntervalMs: 5,
      listKeys: () => {
        listings++
        if (listings === 1) throw new Error('KV unavailable')
        listedAgain.resolve()
        return ['k']
      },
      reconcile: async (key) => void runs.push(key),
    })
    q.start()
    await listedAgain.promise
    await q.whenIdle()
    await q.stop()
    assert.ok(runs.includes('k'))
  })

  test('stop waits for work in flight and drops what waits', async () => {
    const started = signal()
    const release = signal()
    let finished = false
    const runs: string[] = []
    const q = queue({
      reconcile: async (key) => {
        runs.push(key)
        if (key === 'slow') {
          started.resolve()
          await release.promise
          finished = true
        }
      },
    })
    q.start()
    q.enqueue('slow')
    q.enqueue('never')
    await started.promise
    const stopping = q.stop()
    release.resolve()
    await stopping
    assert.equal(finished, true)
    assert.deepEqual(runs, ['slow'])
    q.enqueue('after-stop')
    await q.whenIdle()
    assert.deepEqual(runs, ['slow'])
  })

  test('property: after any enqueue sequence every key is reconciled at least once after its last enqueue', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 30 }), async (keys) => {
        const lastEnqueue = new Map<string, number>()
        const lastRunStart = new Map<string, number>()
        let clock = 0
        const q = queue({
          concurrency: 2,
          reconcile: async (key) => {
            lastRunStart.set(key, ++clock)
            await new Promise((r) => setImmediate(r))
          },
        })
        q.start()
        for (const key of keys) {
          lastEnqueue.set(key, ++clock)
          q.enqueue(key)
          if (clock % 3 === 0) await new Promise((r) => setImmediate(r))
        }
        await q.whenIdle()
        await q.stop()
        for (const [key, at] of lastEnqueue) assert.ok((lastRunStart.get(key) ?? 0) > at, `key ${key}`)
      }),
      { numRuns: 50 },
    )
  })
})

describe('backoffDelay', () => {
  test('stays within [cap/2, cap] and never exceeds maxMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, r) => {
          const policy = { initialMs: 100, maxMs: 10_000 }
          const cap = Math.min(policy.maxMs, policy.initialMs * 2 ** (attempt - 1))
          const d = backoffDelay(policy, attempt, () => r)
          return d >= Math.floor(cap / 2) && d <= cap
        },
      ),
    )
  })
})
