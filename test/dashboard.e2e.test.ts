/**
 * The dashboard in a real browser (issue 13): Debian's Chromium driven by playwright-core against
 * the console of a whole system (nats-server, Samba AD DC, every service, two agent processes each
 * behind its own Apache). An admin signs in with a console token, sees sites -> pools -> servers
 * with each server's kvno, starts a rotation with the page's button and watches its progress
 * move (staged, then applied) from the event stream, without a reload; the test saves a screenshot
 * taken mid-rotation. A viewer sees the same and is offered no action (and the API refuses it).
 */
import assert from 'node:assert/strict'
import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { BrowserContext, Page } from 'playwright-core'
import { launchChromium } from './support/browser.ts'
import { repoRoot, type System, startSystem, tokens } from './support/system.ts'
import { startWebServer, type WebServer } from './support/web-servers.ts'

const ACCOUNT = 'CORP\\KERBDASH'
const SAM = 'KERBDASH$'
const POOL = 'web.paris.corp.example.com'
const SERVERS = ['fe01.paris.corp.example.com', 'fe02.paris.corp.example.com']
/** Where the test leaves its screenshots (git-ignored). */
const output = join(repoRoot, 'test-output')

describe('the dashboard in Chromium', { timeout: 600_000 }, () => {
  let system: System
  const web: WebServer[] = []
  let context: BrowserContext
  let closeBrowser: () => Promise<void>
  const foreign: string[] = []

  const signIn = async (role: keyof typeof tokens): Promise<Page> => {
    const page = await context.newPage()
    page.on('request', (request) => {
      if (!request.url().startsWith(system.consoleUrl)) foreign.push(request.url())
    })
    page.on('pageerror', (error) => assert.fail(`the page threw: ${error.message}`))
    await page.goto(`${system.consoleUrl}/dashboard/`)
    await page.fill('#token', tokens[role].secret)
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#board:not([hidden])')
    await page.waitForSelector('#live.live.live')
    return page
  }
  const serverRow = (page: Page, server: string) => page.locator(`tr[data-server="${server}"]`)

  before(async () => {
    system = await startSystem()
    const { cli } = system
    const ok = async (args: string[]) => {
      const result = await cli(args)
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`)
    }
    await ok(['account', 'new', ACCOUNT])
    await ok(['site', 'add', 'paris'])
    await ok(['site', 'add', 'oslo'])
    await ok(['pool', 'add', POOL, '--site', 'paris'])
    await ok(['assignment', 'new', 'paris', ACCOUNT])
    for (const server of SERVERS) await ok(['server', 'add', server, '--pool', POOL, '--backend', 'keytab'])
    await ok(['topology', 'enable'])
    for (const server of SERVERS) web.push(await startWebServer(system, server, POOL))
    for (const w of web) await w.start({ enrol: true })
    const kvno = await system.kvnoOf(SAM)
    await system.eventually(
      async () => (await Promise.all(web.map((w) => w.kvnos()))).every((k) => k.includes(kvno)),
      'both agents installed the first key',
    )
    ;({ context, close: closeBrowser } = await launchChromium())
    await mkdir(output, { recursive: true })
  })
  after(async () => {
    await closeBrowser?.()
    for (const w of web) await w.close().catch(() => {})
    await system?.stop()
  })

  it('a token the console does not know is refused on the sign-in form', async () => {
    const page = await context.newPage()
    await page.goto(`${system.consoleUrl}/dashboard/`)
    await page.fill('#token', 'not-a-token')
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#login-error:has-text("That token is not valid.")')
    assert.equal(await page.isHidden('#board'), true)
    await page.close()
  })

  it('admin: the fleet as sites, pools, servers; a rotation started from the page progresses live, without a reload', async () => {
    const page = await signIn('admin')
    const kvno = await system.kvnoOf(SAM)
    for (const server of SERVERS) {
      await serverRow(page, server).and(page.locator('[data-state="current"]')).waitFor()
      assert.equal(await serverRow(page, server).locator('td.kvno').textContent(), String(kvno))
    }
    assert.match((await page.textContent('section.site[data-site="oslo"]')) ?? '', /no account: NTLM only/)
    assert.match(
      (await page.textContent('#accounts')) ?? '',
      new RegExp(`HTTP/${POOL.replaceAll('.', '\\.')}`),
    )
    // A mark in the document: it is gone if anything reloads the page.
    await page.evaluate(() => Object.assign(globalThis, { sameDocument: true }))

    // fe02's agent frozen: the rotation stages on fe01 and waits for fe02 (still online).
    web[1]!.signal('SIGSTOP')
    page.once('dialog', (dialog) => void dialog.accept())
    await page.click(`button.rotate[data-account="${ACCOUNT.replace('\\', '\\\\')}"]`)
    const rotation = page.locator('.rotation').first()
    await rotation.locator('.progress-label:has-text("staging: 1/2 staged")').waitFor({ timeout: 20_000 })
    assert.match((await rotation.locator('.target.staged').textContent()) ?? '', /fe01/)
    const shot = join(output, 'dashboard-rotation.png')
    await page.screenshot({ path: shot, fullPage: true })
    assert.ok((await stat(shot)).size > 10_000, `a screenshot in ${shot}`)

    web[1]!.signal('SIGCONT')
    await rotation.locator('.progress-label:has-text("done: 2/2 applied")').waitFor({ timeout: 60_000 })
    assert.equal(await rotation.getAttribute('data-state'), 'done')
    assert.equal(await rotation.locator('.progress').getAttribute('aria-valuenow'), '100')
    assert.equal(await system.kvnoOf(SAM), kvno + 1, 'AD has the new kvno')
    for (const server of SERVERS) {
      await system.eventually(
        async () =>
          ((await serverRow(page, server).locator('td.kvno').textContent()) ?? '')
            .split(', ')
            .includes(String(kvno + 1)),
        `the page shows kvno ${kvno + 1} on ${server}`,
      )
    }
    const events = (await page.textContent('#events')) ?? ''
    for (const name of [
      'PasswordRotationStarted',
      'CredentialStaged',
      'PasswordRotated',
      'CredentialApplied',
    ])
      assert.ok(events.includes(name), `${name} in the event list: ${events.slice(0, 2000)}`)
    assert.equal(
      await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument),
      true,
      'no reload',
    )
    await page.screenshot({ path: join(output, 'dashboard.png'), fullPage: true })
    await page.close()
  })

  it('viewer: sees the fleet and the rotation, is offered no action, and the API refuses one', async () => {
    const page = await signIn('viewer')
    await page.locator('.rotation[data-state="done"]').waitFor()
    await serverRow(page, SERVERS[0]!).waitFor()
    assert.equal(await page.locator('button.rotate').count(), 0, 'no rotate button for a viewer')
    assert.match((await page.textContent('#who')) ?? '', /\(viewer\)/)
    const status = await page.evaluate(
      async ([account, token]) =>
        (
          await fetch(`/v1/accounts/${account}/password`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
          })
        ).status,
      ['CORP.KERBDASH', tokens.viewer.secret] as const,
    )
    assert.equal(status, 403)
    await page.close()
    assert.deepEqual(foreign, [], 'the page asks nothing of any other origin')
  })
})
