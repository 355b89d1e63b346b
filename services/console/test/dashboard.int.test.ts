import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { auth, type ConsoleWorld, startConsoleWorld } from './helpers.ts'

/**
 * The dashboard's files and the session route behind its role-aware page (the page itself is
 * driven in Chromium by test/dashboard.e2e.test.ts).
 */
describe('the dashboard: files and session', () => {
  let world: ConsoleWorld
  before(async () => {
    world = await startConsoleWorld()
  })
  after(async () => {
    await world?.stop()
  })
  const get = (url: string, headers = {}) => world.app.inject({ method: 'GET', url, headers })

  test('page, stylesheet and the bundled script are served without a token, under a strict CSP', async () => {
    const redirect = await get('/dashboard')
    assert.equal(redirect.statusCode, 302)
    assert.equal(redirect.headers.location, '/dashboard/')
    for (const [url, type] of [
      ['/dashboard/', 'text/html; charset=utf-8'],
      ['/dashboard/dashboard.css', 'text/css; charset=utf-8'],
      ['/dashboard/dashboard.js', 'text/javascript; charset=utf-8'],
    ] as const) {
      const r = await get(url)
      assert.equal(r.statusCode, 200, url)
      assert.equal(r.headers['content-type'], type, url)
      assert.match(String(r.headers['content-security-policy']), /default-src 'none'; script-src 'self'/)
      assert.equal(r.headers['x-content-type-options'], 'nosniff')
    }
    const script = (await get('/dashboard/dashboard.js')).body
    assert.ok(
      !/\bimport\s*[{*]|from\s*["']/.test(script),
      'one bundle: no import left for the browser to resolve',
    )
    assert.ok(script.includes('/v1/events/stream'), 'the bundle is the dashboard')
    assert.ok(!script.includes('innerHTML'), 'text is set as text')
  })

  test('anything else under /dashboard/ is 404, a path outside the folder too', async () => {
    for (const url of ['/dashboard/main.ts', '/dashboard/..%2F..%2Fpackage.json', '/dashboard/index.html']) {
      assert.equal((await get(url)).statusCode, 404, url)
    }
  })

  test('the session names the token and its role; only operator and admin may rotate; no token: 401', async () => {
    for (const [role, mayRotate] of [
      ['viewer', false],
      ['operator', true],
      ['admin', true],
    ] as const) {
      const r = await get('/v1/session', auth(role))
      assert.equal(r.statusCode, 200)
      assert.deepEqual(r.json(), { name: `${role}-token`, role, mayRotate })
    }
    assert.equal((await get('/v1/session')).statusCode, 401)
  })
})
