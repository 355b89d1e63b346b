import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { portAnswers, startNats, waitForPort } from '../src/index.ts'

const repo = join(import.meta.dirname, '..', '..', '..')

test('startNats serves JetStream on a free port and survives a restart with the same store', async (t) => {
  const nats = await startNats()
  t.after(() => nats.stop())
  assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/)
  const info = await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: nats.port })
    socket.once('data', (chunk) => {
      socket.destroy()
      resolve(chunk.toString())
    })
    socket.once('error', reject)
  })
  assert.match(info, /^INFO .*"jetstream":true/, 'the server announces JetStream')
  await nats.restart()
  await waitForPort('127.0.0.1', nats.port, 1000, 'nats-server after restart')
})

test('nats-server dies with the process that started it, even on SIGKILL', async () => {
  const script = `import('${join(repo, 'libs/testing/src/index.ts')}').then(async (m) => {
    const nats = await m.startNats(); console.log(JSON.stringify({ port: nats.port })); setInterval(() => {}, 1000) })`
  const child = spawn(join(repo, 'node_modules', '.bin', 'node'), ['-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [line] = (await once(child.stdout, 'data')) as [Buffer]
  const { port } = JSON.parse(line.toString()) as { port: number }
  assert.equal(await portAnswers('127.0.0.1', port), true, 'the child started nats-server')
  child.kill('SIGKILL')
  await once(child, 'exit')
  const deadline = Date.now() + 10_000
  while ((await portAnswers('127.0.0.1', port)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100))
  assert.equal(
    await portAnswers('127.0.0.1', port),
    false,
    'nats-server is gone after its parent was SIGKILLed',
  )
})
