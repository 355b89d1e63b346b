import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startNats, waitForPort } from '../src/index.ts'

test('startNats serves JetStream on a free port and survives a restart with the same store', async (t) => {
  const nats = await startNats()
  t.after(() => nats.stop())
  assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/)
  const monitor = await fetch(`http://127.0.0.1:${nats.port}`).catch(() => undefined)
  assert.equal(monitor, undefined, 'the client port is not an HTTP port')
  await nats.restart()
  await waitForPort('127.0.0.1', nats.port, 1000, 'nats-server after restart')
})
