import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type EventEnvelope, KrbfleetError, ErrorCode, TerminalError } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { buildApp, hashToken, type RouteModule } from '../src/index.ts'

/**
 * The audit trail (ChangeRecorded on the bus) carries the reason of a refusal, but never the text
 * of an internal error: that text may hold a DN, a path or a secret fragment that only the log may
 * see. The HTTP answer says 'internal error' already; the audit detail must say no more.
 */

const leaky = 'ldap bind as CN=svc,OU=x with password hunter2 failed at /var/lib/krbfleet/kek'

const failing: RouteModule = async (app) => {
  app.post('/boom/plain', { config: { action: 'test.plain' } }, async () => {
    throw new Error(leaky)
  })
  app.post('/boom/terminal', { config: { action: 'test.terminal' } }, async () => {
    throw new TerminalError(leaky)
  })
  app.post('/boom/refused', { config: { action: 'test.refused' } }, async () => {
    throw new KrbfleetError(ErrorCode.Conflict, 'site: Redmond exists', { field: 'site' })
  })
}

test('an internal error is recorded as "internal: internal error"; a refusal keeps its reason', async () => {
  const published: EventEnvelope[] = []
  const app = await buildApp(
    {
      logger: silentLogger(),
      tokens: [{ name: 'root', role: 'admin', sha256: hashToken('t0ken') }],
      rpc: async () => {
        throw new Error('no rpc here')
      },
      publish: async (e) => {
        published.push(e)
      },
    },
    { routes: [failing] },
  )
  try {
    const headers = { authorization: 'Bearer t0ken' }
    for (const url of ['/v1/boom/plain', '/v1/boom/terminal']) {
      const r = await app.inject({ method: 'POST', url, headers })
      assert.equal(r.statusCode, 500, r.body)
      assert.deepEqual(r.json(), { error: { code: 'internal', message: 'internal error' } })
    }
    const refused = await app.inject({ method: 'POST', url: '/v1/boom/refused', headers })
    assert.equal(refused.statusCode, 409, refused.body)

    assert.deepEqual(
      published.map((e) => [e.actor, e.data]),
      [
        [
          'token:root',
          {
            action: 'test.plain',
            target: '/v1/boom/plain',
            outcome: 'refused',
            detail: 'internal: internal error',
          },
        ],
        [
          'token:root',
          {
            action: 'test.terminal',
            target: '/v1/boom/terminal',
            outcome: 'refused',
            detail: 'internal: internal error',
          },
        ],
        [
          'token:root',
          {
            action: 'test.refused',
            target: '/v1/boom/refused',
            outcome: 'refused',
            detail: 'conflict: site: Redmond exists',
          },
        ],
      ],
    )
    assert.ok(!JSON.stringify(published).includes('hunter2'))
  } finally {
    await app.close()
  }
})
