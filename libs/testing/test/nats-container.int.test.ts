import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { startNats } from '../src/index.ts'

/** True when a Docker engine answers on its default socket. */
async function dockerReachable(): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect('/var/run/docker.sock')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

test('containers mode: nats in a container where Docker answers, a clear error where it does not', async (t) => {
  if (await dockerReachable()) {
    const nats = await startNats({ containers: true })
    t.after(() => nats.stop())
    assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/)
    await nats.restart()
    return
  }
  await assert.rejects(
    startNats({ containers: true }),
    /KRBFLEET_HARNESS=containers but nats:.* could not be started \(is a Docker engine reachable\?\)/,
  )
})
