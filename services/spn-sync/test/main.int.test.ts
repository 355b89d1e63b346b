import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { accountKey, SpnsReconciled } from '@krbfleet/contracts'
import { freePort } from '@krbfleet/testing'
import { type Failpoint, ownershipRecordCodec } from '../src/index.ts'
import { startWorld, type World, webPool } from './world.ts'

const mainTs = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const crashingMainTs = fileURLToPath(new URL('./crashing-main.ts', import.meta.url))

/**
 * spn-sync as a real process (main.ts): killed with SIGKILL in the middle of a write, by the
 * failpoint of its test entry point (crashing-main.ts), then started again: the next run must converge.
 */
describe('spn-sync process killed mid-reconcile', { timeout: 300_000 }, () => {
  let world: World
  let passwordFile: string
  const children: ChildProcess[] = []
  before(
    async () => {
      world = await startWorld()
      passwordFile = join(world.dc.dir, 'spn-sync-ldap-password')
      await writeFile(passwordFile, world.dc.adminPassword, { mode: 0o600 })
    },
    { timeout: 120_000 },
  )
  after(
    async () => {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await world?.close()
    },
    { timeout: 60_000 },
  )

  async function spawnService(env: Record<string, string>, logName: string, crashAt?: Failpoint) {
    const httpPort = await freePort()
    const child = spawn(process.execPath, crashAt ? [crashingMainTs, crashAt] : [mainTs], {
      env: {
        PATH: process.env.PATH ?? '',
        KRBFLEET_NATS_URL: world.nats.url,
        KRBFLEET_LDAP_URL: world.dc.ldapsUrl,
        KRBFLEET_LDAP_CA_FILE: world.dc.caFile,
        KRBFLEET_LDAP_SERVERNAME: world.dc.tlsServername,
        KRBFLEET_LDAP_BIND_DN: world.dc.adminDn,
        KRBFLEET_LDAP_PASSWORD_FILE: passwordFile,
        KRBFLEET_SPN_RESYNC_INTERVAL_MS: '0',
        KRBFLEET_HTTP_PORT: String(httpPort),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const log = createWriteStream(join(world.dc.dir, logName))
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      log.write(chunk)
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      log.write(chunk)
    })
    children.push(child)
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    return { child, exited, httpPort, output: () => output }
  }

  async function record(account: string) {
    const entry = await world.ownershipKv.get(accountKey(account))
    assert.ok(entry && entry.operation === 'PUT', `an ownership record for ${account}`)
    return ownershipRecordCodec.decode(entry.json())
  }

  it('given a kill right after the intent was recorded, then the next run writes the SPNs and confirms them', async () => {
    const dn = await world.createComputer('KCRASH1')
    await world.directory.modifySpns(dn, { add: ['HTTP/foreign-crash1.corp.example.com'] })
    await world.enable([webPool('poolc1', 'athlone', { aliases: ['c1.corp.example.com'] })], {
      athlone: 'CORP\\KCRASH1',
    })

    const first = await spawnService({}, 'spn-sync-1.log', 'after-intent')
    const [code, signal] = await first.exited
    assert.equal(signal, 'SIGKILL', `killed by the failpoint (exit ${code}): ${first.output().slice(-2000)}`)
    const crashed = await record('CORP\\KCRASH1')
    assert.deepEqual(crashed.pending?.add, ['HTTP/c1.corp.example.com', 'HTTP/poolc1.corp.example.com'])
    assert.deepEqual(await world.spnsOf(dn), ['HTTP/foreign-crash1.corp.example.com'], 'AD not written yet')

    const second = await spawnService({}, 'spn-sync-2.log')
    // The final state, not just "no pending write": taking over the dead writer's intent clears it
    // first, and the new intent and the modify follow; under load a poll can land in between.
    await world.eventually(
      async () => (await record('CORP\\KCRASH1')).pending === null && (await world.spnsOf(dn)).length === 3,
      'the write done and confirmed',
    )
    assert.deepEqual(await world.spnsOf(dn), [
      'HTTP/c1.corp.example.com',
      'HTTP/foreign-crash1.corp.example.com',
      'HTTP/poolc1.corp.example.com',
    ])
    const confirmed = await record('CORP\\KCRASH1')
    assert.deepEqual(confirmed.spns, ['HTTP/c1.corp.example.com', 'HTTP/poolc1.corp.example.com'])
    const events = world.eventsOf(SpnsReconciled.type, 'CORP\\KCRASH1')
    assert.equal(events.length, 1)
    assert.deepEqual((events[0]!.data as { added: string[] }).added, confirmed.spns)

    // Health endpoints of the real process, then a graceful stop.
    const base = `http://127.0.0.1:${second.httpPort}`
    assert.equal((await fetch(`${base}/healthz`)).status, 200)
    await world.eventually(async () => (await fetch(`${base}/readyz`)).status === 200, 'ready')
    const metrics = await (await fetch(`${base}/metrics`)).text()
    assert.match(metrics, /krbfleet_spn_reconciles_total\{[^}]*outcome="changed"[^}]*\} [1-9]/)
    assert.match(metrics, /krbfleet_spn_reconcile_duration_seconds_count/)
    // Its LDAP operations timed, and each durable consumer's lag (all caught up by now).
    assert.match(
      metrics,
      /krbfleet_ldap_operation_seconds_count\{[^}]*operation="modify_spns"[^}]*outcome="ok"[^}]*\} [1-9]/,
    )
    for (const durable of [
      'spn-sync-topology-enabled',
      'spn-sync-account-created',
      'spn-sync-account-removed',
    ])
      assert.match(metrics, new RegExp(`krbfleet_consumer_pending\\{[^}]*durable="${durable}"[^}]*\\} 0`))
    second.child.kill('SIGTERM')
    const [stopCode] = await second.exited
    assert.equal(stopCode, 0)
  })

  it('given a kill right after the modify, then the next run confirms the write and reports it once', async () => {
    const dn = await world.createComputer('KCRASH2')
    await world.enable(
      [webPool('poolc1', 'athlone', { aliases: ['c1.corp.example.com'] }), webPool('poolc2', 'tuam')],
      { athlone: 'CORP\\KCRASH1', tuam: 'CORP\\KCRASH2' },
    )
    const first = await spawnService({}, 'spn-sync-3.log', 'after-modify')
    const [, signal] = await first.exited
    assert.equal(signal, 'SIGKILL', first.output().slice(-2000))
    const crashed = await record('CORP\\KCRASH2')
    assert.ok(crashed.pending, 'the intent is still recorded')
    assert.deepEqual(await world.spnsOf(dn), ['HTTP/poolc2.corp.example.com'], 'AD was written')
    assert.equal(world.eventsOf(SpnsReconciled.type, 'CORP\\KCRASH2').length, 0)

    const second = await spawnService({}, 'spn-sync-4.log')
    await world.eventually(
      async () => (await record('CORP\\KCRASH2')).pending === null,
      'the write confirmed',
    )
    assert.deepEqual((await record('CORP\\KCRASH2')).spns, ['HTTP/poolc2.corp.example.com'])
    await world.eventually(() => world.eventsOf(SpnsReconciled.type, 'CORP\\KCRASH2').length > 0, 'reported')
    const [event] = world.eventsOf(SpnsReconciled.type, 'CORP\\KCRASH2')
    // Reported under the intent's id, so a publish that did happen before the kill is a duplicate.
    assert.equal(event!.id, crashed.pending.id)
    assert.deepEqual(event!.data, {
      account: 'CORP\\KCRASH2',
      added: ['HTTP/poolc2.corp.example.com'],
      removed: [],
      revision: crashed.pending.revision,
    })
    second.child.kill('SIGTERM')
    assert.equal((await second.exited)[0], 0)
  })

  it('given a bad setting, then start-up stops naming the variable and the rule', async () => {
    const bad = await spawnService({ KRBFLEET_SPN_RESYNC_INTERVAL_MS: 'soon' }, 'spn-sync-5.log')
    const [code] = await bad.exited
    assert.notEqual(code, 0)
    assert.match(bad.output(), /KRBFLEET_SPN_RESYNC_INTERVAL_MS/)
    assert.doesNotMatch(
      bad.output(),
      new RegExp(world.dc.adminPassword.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
    )
  })
})
