import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freePort, type NatsServer, type TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import { newKek } from './helpers.ts'

const main = join(import.meta.dirname, '..', 'src', 'main.ts')

interface Outcome {
  code: number | null
  output: string
}

/** main.ts as it runs in production: its own process, configured by the environment only. */
function spawnMain(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = ''
  const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH ?? '', ...env } })
  child.stdout?.on('data', (d) => {
    output += d
  })
  child.stderr?.on('data', (d) => {
    output += d
  })
  return { child, output: () => output }
}

/** Runs main.ts until it exits by itself (a refused start-up). */
async function runToExit(env: Record<string, string>): Promise<Outcome> {
  const { child, output } = spawnMain(env)
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, output: output() }
}

/** Starts main.ts and waits for its `started` record; the caller stops it. */
async function runUntilStarted(env: Record<string, string>) {
  const started = spawnMain(env)
  const exited = once(started.child, 'exit')
  for (;;) {
    if (/"msg":"started"/.test(started.output())) break
    if (started.child.exitCode !== null) throw new Error(`main.ts exited: ${started.output()}`)
    await Promise.race([once(started.child.stdout!, 'data'), exited])
  }
  return { ...started, exited }
}

describe('account main.ts start-up', { timeout: 300_000 }, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let dir: string
  let env: Record<string, string>
  const kek = newKek()
  const other = newKek()

  before(async () => {
    world = await startWorld({ name: 'startup-test' })
    ;({ dc, nats } = world)
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-account-main-'))
    const passwordFile = join(dir, 'ldap-password')
    await writeFile(passwordFile, `${dc.adminPassword}\n`, { mode: 0o600 })
    await writeFile(join(dir, 'kek'), `${kek.text}\n`, { mode: 0o600 })
    await writeFile(join(dir, 'other-kek'), `${other.text}\n`, { mode: 0o600 })
    env = {
      KRBFLEET_NATS_URL: nats.url,
      KRBFLEET_LDAP_URL: dc.ldapsUrl,
      KRBFLEET_LDAP_CA_FILE: dc.caFile,
      KRBFLEET_LDAP_SERVERNAME: dc.tlsServername,
      KRBFLEET_LDAP_BIND_DN: dc.adminDn,
      KRBFLEET_LDAP_PASSWORD_FILE: passwordFile,
      KRBFLEET_DOMAIN_NETBIOS: 'CORP',
      KRBFLEET_DOMAIN_DNS: 'corp.example.com',
      KRBFLEET_HTTP_PORT: '0',
    }
  })

  after(async () => {
    await world?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('refuses to start without a key-encryption key', async () => {
    const { code, output } = await runToExit(env)
    assert.equal(code, 1)
    assert.match(
      output,
      /account failed to start: key-encryption key: none configured; set KRBFLEET_ACCOUNT_KEK/,
    )
  })

  it('refuses a key file that others can read', async () => {
    const loose = join(dir, 'loose-kek')
    await writeFile(loose, `${kek.text}\n`)
    await chmod(loose, 0o644)
    const { code, output } = await runToExit({ ...env, KRBFLEET_ACCOUNT_KEK_FILE: loose })
    assert.equal(code, 1)
    assert.match(output, /mode 0644 lets group or others access it/)
    assert.equal(output.includes(kek.text), false)
  })

  it('starts with its KEK, answers /readyz and /metrics, and stops cleanly on SIGTERM', async () => {
    const port = await freePort()
    const running = await runUntilStarted({
      ...env,
      KRBFLEET_ACCOUNT_KEK_FILE: join(dir, 'kek'),
      KRBFLEET_HTTP_PORT: String(port),
    })
    try {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
      assert.equal(ready.status, 200)
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { nats: true, ldap: true })
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      assert.match(metrics, /process_cpu_seconds_total/)
      assert.match(metrics, /# HELP krbfleet_account_operations_total/)
    } finally {
      running.child.kill('SIGTERM')
    }
    const [code] = (await running.exited) as [number | null]
    assert.equal(code, 0, running.output())
    assert.equal(running.output().includes(dc.adminPassword), false)
  })

  it('refuses another KEK than the one the stored secrets were sealed with', async () => {
    const { code, output } = await runToExit({ ...env, KRBFLEET_ACCOUNT_KEK_FILE: join(dir, 'other-kek') })
    assert.equal(code, 1)
    assert.match(
      output,
      /the key-encryption key is wrong: it does not match the check value stored under 'kek-check'/,
    )
    // The KEK given by environment variable is checked the same way.
    const byEnv = await runToExit({ ...env, KRBFLEET_ACCOUNT_KEK: other.text })
    assert.equal(byEnv.code, 1)
    assert.match(byEnv.output, /the key-encryption key is wrong/)
    assert.equal(byEnv.output.includes(other.text), false)
  })

  it('reports an unreachable DC and a bad setting by name', async () => {
    const down = await runToExit({
      ...env,
      KRBFLEET_ACCOUNT_KEK_FILE: join(dir, 'kek'),
      KRBFLEET_LDAP_URL: `ldaps://${dc.address}:1`,
      KRBFLEET_LDAP_TIMEOUT_MS: '2000',
    })
    assert.equal(down.code, 1)
    assert.match(down.output, /cannot use the directory at ldaps:\/\/[0-9.]+:1/)
    const bad = await runToExit({
      ...env,
      KRBFLEET_ACCOUNT_KEK_FILE: join(dir, 'kek'),
      KRBFLEET_LDAP_URL: 'http://dc',
    })
    assert.equal(bad.code, 1)
    assert.match(bad.output, /KRBFLEET_LDAP_URL/)
    const types = await runToExit({
      ...env,
      KRBFLEET_ACCOUNT_KEK_FILE: join(dir, 'kek'),
      KRBFLEET_ACCOUNT_ENCRYPTION_TYPES: 'des',
    })
    assert.equal(types.code, 1)
    assert.match(types.output, /KRBFLEET_ACCOUNT_ENCRYPTION_TYPES: 'des' is not an encryption type/)
  })
})
