import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { connectBusFromSettings, NatsSettings } from '@krbfleet/bus'
import { codec, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { requireCommands, startNats } from '@krbfleet/testing'
import Type from 'typebox'
import { loadConfig } from '../src/index.ts'

const run = promisify(execFile)

/** A CA and a certificate for 127.0.0.1 signed by it (openssl, EC P-256, valid 2 days). */
async function makeCertificates(dir: string): Promise<void> {
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca-key.pem',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=krbfleet test CA',
  ])
  await openssl(['req', ...ec, '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'])
  // DNS:localhost too: nats.js checked that name for tls://127.0.0.1 here.
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  )
  await openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  ])
}

test('KRBFLEET_NATS_CA_FILE: a service reaches a TLS-only NATS server through its settings, and not without the CA', async (t) => {
  await requireCommands(['openssl'])
  const dir = await mkdtemp(join(tmpdir(), 'krbfleet-nats-tls-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await makeCertificates(dir)
  const nats = await startNats({
    args: ['--tls', '--tlscert', join(dir, 'server.pem'), '--tlskey', join(dir, 'server-key.pem')],
  })
  t.after(() => nats.stop())
  const Settings = codec(Type.Object({ nats: NatsSettings }))

  const config = loadConfig(Settings, {
    env: { KRBFLEET_NATS_URL: `tls://127.0.0.1:${nats.port}`, KRBFLEET_NATS_CA_FILE: join(dir, 'ca.pem') },
  })
  const bus = await connectBusFromSettings(config.nats, { name: 'krbfleet-tls-test', logger: silentLogger() })
  try {
    assert.equal(bus.isConnected(), true)
    await bus.ensureStreams()
    const info = await bus.jsm.getAccountInfo()
    assert.ok(info.streams >= 1, 'JetStream answered over TLS')
  } finally {
    await bus.close()
  }

  // Without the CA the server's certificate is not trusted: start-up fails, naming the server.
  const untrusted = loadConfig(Settings, { env: { KRBFLEET_NATS_URL: `tls://127.0.0.1:${nats.port}` } })
  await assert.rejects(
    connectBusFromSettings(untrusted.nats, { name: 'krbfleet-tls-test', logger: silentLogger() }),
    (err: unknown) =>
      err instanceof KrbfleetError &&
      err.code === ErrorCode.Unavailable &&
      err.message.includes(`tls://127.0.0.1:${nats.port}`),
  )
})
