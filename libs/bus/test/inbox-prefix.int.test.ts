import assert from 'node:assert/strict'
import { test } from 'node:test'
import { silentLogger } from '@krbfleet/logging'
import { startNats } from '@krbfleet/testing'
import { connect } from '@nats-io/transport-node'
import { busOptionsFromSettings, connectBusFromSettings, NatsSettings } from '../src/index.ts'
import { Compile } from 'typebox/compile'

test('inboxPrefix from the settings: requests and JetStream API replies come back on that prefix', async (t) => {
  const nats = await startNats()
  t.after(() => nats.stop())
  const bus = await connectBusFromSettings(
    { url: nats.url, inboxPrefix: '_INBOX_krbfleet-test' },
    { name: 'inbox-test', logger: silentLogger() },
  )
  t.after(() => bus.close())
  const responder = await connect({ servers: nats.url })
  t.after(() => responder.close())
  const replies: string[] = []
  responder.subscribe('echo.reply', {
    callback: (_err, msg) => {
      if (msg.reply) replies.push(msg.reply)
      msg.respond('ok')
    },
  })
  await responder.flush()
  assert.equal((await bus.nc.request('echo.reply', '', { timeout: 2000 })).string(), 'ok')
  assert.ok(replies[0]?.startsWith('_INBOX_krbfleet-test.'), `reply subject ${replies[0]}`)
  // The JetStream API works through the prefixed inbox too.
  await bus.ensureStreams()
})

test('inboxPrefix must be a subject without wildcards or spaces', () => {
  const check = Compile(NatsSettings)
  assert.equal(check.Check({ url: ['nats://x:4222'], inboxPrefix: '_INBOX_krbfleet-account' }), true)
  for (const bad of ['_INBOX.>', '_INBOX_*', 'a b', '', 'a.', '.a']) {
    assert.equal(check.Check({ url: ['nats://x:4222'], inboxPrefix: bad }), false, bad)
  }
  assert.equal(
    busOptionsFromSettings({ url: 'nats://x:4222', inboxPrefix: '_INBOX_u' }).inboxPrefix,
    '_INBOX_u',
  )
  assert.equal('inboxPrefix' in busOptionsFromSettings({ url: 'nats://x:4222' }), false)
})
