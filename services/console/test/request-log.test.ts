import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { pino } from 'pino'
import { buildApp, type ConsoleApp, hashToken } from '../src/index.ts'

/**
 * Issue 10: a request whose path is not valid UTF-8 once decoded (`/v1/%C0%AF`) was logged as
 * "incoming request" and never completed in the log: fastify answers it before routing and skips
 * its response hooks. Every request must end with a completion line, and such a path is a 400.
 */

interface Line {
  msg: string
  reqId?: string
  res?: { statusCode: number }
  code?: string
}

async function loggedApp(): Promise<{ app: ConsoleApp; lines: Line[] }> {
  const lines: Line[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) })
  const app = await buildApp(
    {
      logger,
      tokens: [{ name: 'v', role: 'viewer', sha256: hashToken('viewer-token') }],
      rpc: async () => {
        throw new Error('no service here')
      },
      publish: async () => {},
    },
    { rateLimit: { max: 100, anonymousMax: 2, windowSeconds: 30 } },
  )
  return { app, lines }
}

/** Every request logged as incoming has exactly one completion line, with its status. */
function completions(lines: Line[]): Map<string, number> {
  const incoming = lines.filter((l) => l.msg === 'incoming request').map((l) => l.reqId as string)
  const completed = new Map<string, number>()
  for (const l of lines.filter((x) => x.msg === 'request completed')) {
    assert.ok(!completed.has(l.reqId as string), `one completion line per request (${l.reqId})`)
    completed.set(l.reqId as string, l.res?.statusCode as number)
  }
  assert.deepEqual([...completed.keys()].sort(), [...incoming].sort(), 'every incoming request completed')
  return completed
}

test('a path that is not valid UTF-8 is a 400 with a completion line, counted in /metrics', async () => {
  const { app, lines } = await loggedApp()
  try {
    for (const url of ['/v1/%C0%AF', '/v1/sites/%FF', '/%C0%AF', '/v1/%ED%A0%80?dryRun=true']) {
      const r = await app.inject({ method: 'GET', url, headers: { authorization: 'Bearer viewer-token' } })
      assert.equal(r.statusCode, 400, url)
      assert.equal(r.json().error.code, 'invalid', url)
    }
    const statuses = completions(lines)
    assert.equal(statuses.size, 4)
    assert.deepEqual([...new Set(statuses.values())], [400])
    const metrics = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: 'Bearer viewer-token' },
    })
    assert.match(
      metrics.body,
      /krbfleet_console_http_requests_total\{method="GET",route="unknown",status="400"\} 4\n/,
    )
  } finally {
    await app.close()
  }
})

test('every other answer completes in the log too: 200, 401, 404, 429', async () => {
  const { app, lines } = await loggedApp()
  try {
    const urls = ['/healthz', '/v1/sites', '/v1/sites', '/v1/sites', '/nope']
    const statuses = []
    for (const url of urls) statuses.push((await app.inject({ method: 'GET', url })).statusCode)
    assert.deepEqual(statuses, [200, 401, 401, 429, 429])
    assert.deepEqual([...completions(lines).values()], statuses)
  } finally {
    await app.close()
  }
})

test('raw bytes the HTTP parser refuses: one log line and a 400 in the console format', async () => {
  const { app, lines } = await loggedApp()
  try {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as { port: number }
    const answer = await new Promise<string>((resolve, reject) => {
      let text = ''
      const socket = connect(port, '127.0.0.1', () => {
        const line = Buffer.concat([
          Buffer.from('GET /v1/'),
          Buffer.from([0xc0, 0xaf]),
          Buffer.from(' HTTP/1.1\r\n'),
        ])
        socket.write(Buffer.concat([line, Buffer.from('Host: x\r\n\r\n')]))
      })
      socket.on('data', (d) => {
        text += d.toString('latin1')
      })
      socket.on('close', () => resolve(text))
      socket.on('error', reject)
    })
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/)
    assert.equal(JSON.parse(answer.split('\r\n\r\n')[1] ?? '').error.code, 'invalid')
    const refused = lines.filter((l) => l.msg === 'request refused by the HTTP parser')
    assert.equal(refused.length, 1)
    assert.equal(refused[0]?.res?.statusCode, 400)
    assert.match(refused[0]?.code ?? '', /^HPE_/)
  } finally {
    await app.close()
  }
})
