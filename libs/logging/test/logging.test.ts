import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { createLogger } from '../src/index.ts'

function capture() {
  const stream = new PassThrough()
  const lines: string[] = []
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)))
  return { stream, lines }
}

const secret = 'S3cr3t-value-that-must-not-appear'

test('secrets are censored at the top level, one and two levels down', () => {
  const { stream, lines } = capture()
  const logger = createLogger({ name: 'test', destination: stream })
  logger.info({ password: secret, token: secret }, 'top')
  logger.info({ config: { nats: { pass: secret }, ldap: { password: secret } } }, 'config')
  logger.info(
    { err: { details: { password: secret } }, request: { newPassword: secret, kek: secret } },
    'nested',
  )
  logger.info({ req: { headers: { authorization: `Bearer ${secret}` } } }, 'http')
  assert.equal(lines.length, 4)
  for (const line of lines) assert.ok(!line.includes(secret), line)
  assert.equal(JSON.parse(lines[1] ?? '{}').config.ldap.password, '[redacted]')
})

test('records are JSON with the service name, an ISO time and the message', () => {
  const { stream, lines } = capture()
  createLogger({ name: 'spn-sync', destination: stream })
    .child({ account: 'CORP\\KERBAUTH' })
    .warn('drift repaired')
  const record = JSON.parse(lines[0] ?? '{}')
  assert.equal(record.service, 'spn-sync')
  assert.equal(record.account, 'CORP\\KERBAUTH')
  assert.equal(record.msg, 'drift repaired')
  assert.ok(!Number.isNaN(Date.parse(record.time)), record.time)
})
