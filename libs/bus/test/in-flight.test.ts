import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InFlight } from '../src/index.ts'

const tick = () => new Promise((resolve) => setImmediate(resolve))

test('at most `size` tasks run at once, started in order; drain waits for the last', async () => {
  const window = new InFlight(3)
  const started: number[] = []
  let running = 0
  let most = 0
  for (let i = 0; i < 10; i++) {
    await window.run(async () => {
      started.push(i)
      running++
      most = Math.max(most, running)
      for (let t = 0; t < 10 - i; t++) await tick()
      running--
    })
  }
  await window.drain()
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  assert.equal(most, 3)
  assert.equal(running, 0)
})

test('a task that fails makes the next wait fail with its error', async () => {
  const window = new InFlight(1)
  await window.run(async () => {
    await tick()
    throw new Error('bucket full')
  })
  await assert.rejects(window.drain(), /bucket full/)
})

test('callers that do not wait for each other still never run more than `size` at once', async () => {
  const window = new InFlight(2)
  let running = 0
  let most = 0
  let ran = 0
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      window.run(async () => {
        running++
        most = Math.max(most, running)
        for (let t = 0; t < 1 + (i % 3); t++) await tick()
        running--
        ran++
      }),
    ),
  )
  await window.drain()
  assert.equal(ran, 20)
  assert.equal(most, 2)
})
