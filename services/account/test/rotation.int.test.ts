import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Bus, KV } from '@krbfleet/bus'
import {
  accountKey,
  agentToken,
  buckets,
  IssuedCredential,
  PasswordRotated,
  PasswordRotationStarted,
  type RotationView,
} from '@krbfleet/contracts'
import { generateAgentKeyPair, generateSignerKeyPair } from '@krbfleet/sealing'
import type { NatsServer, TestDc } from '@krbfleet/testing'
import { createMetricsRegistry } from '@krbfleet/runtime'
import { startWorld, storedEvents, type World } from '@krbfleet/testing/world'
import { KvWatchInclude } from '@nats-io/kv'
import { nextRotationAt } from '../src/rotation/schedule.ts'
import { type RunningAccountService, startAccountService } from '../src/start.ts'
import { caller, enablePool, LogCapture, newKek, settingsFor } from './helpers.ts'

/**
 * The rotation saga against a real DC and NATS, without agent processes (their keys only: the
 * credentials bucket is read as an agent would), so that what the saga ASKS of the servers shows:
 * the next kvno staged to every server with the active one kept, then activated with the previous
 * kvno kept, then that one retired after the maximum ticket lifetime; and the scheduled rotation
 * of an account whose password reached its maximum age. The saga with real agents and Apache:
 * test/rotation.e2e.test.ts.
 */
describe('rotation saga: phases in the credentials bucket, retirement, schedule', {
  timeout: 300_000,
}, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let bus: Bus
  let credentials: KV
  let service: RunningAccountService | undefined
  const kek = newKek()
  const signer = generateSignerKeyPair()
  const agent = generateAgentKeyPair()
  const server = 'web01.corp.example.com'
  const logs = new LogCapture()

  let registry = createMetricsRegistry({ service: 'account' })
  /** The value of a metric's sample with these labels (every other label ignored). */
  const sample = async (name: string, labels: Record<string, string>) => {
    const metric = registry.getSingleMetric(name)
    assert.ok(metric, `${name} is registered`)
    const { values } = await metric.get()
    return values.find((v) =>
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
    )?.value
  }
  const start = async (overrides: { maxPasswordAgeDays?: number; maxTicketLifetimeMs?: number }) =>
    await startAccountService({
      registry,
      settings: {
        ...settingsFor(dc, nats, kek.key),
        signer: { privateKey: signer.privateKey, keyId: signer.keyId },
        pendingSweepMs: 200,
        rotation: { stageTimeoutMs: 2000, applyTimeoutMs: 2000, onlineWithinMs: 3000, staleAfterMs: 1000 },
        ...overrides,
      },
      logger: logs.logger(),
    })
  const eventually = async (what: string, condition: () => Promise<boolean>, tries = 300) => {
    for (let i = 0; i < tries; i++) {
      if (await condition()) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.fail(`never happened: ${what}`)
  }
  const issued = async () => {
    const entry = await credentials.get(agentToken(server))
    return entry?.operation === 'PUT' ? IssuedCredential.decode(entry.json()) : null
  }

  before(async () => {
    world = await startWorld({ name: 'rotation-test' })
    ;({ dc, nats, bus } = world)
    credentials = await bus.kv(buckets.credentials)
    await enablePool(bus, [{ fqdn: server, backend: 'keytab', agentKey: agent.publicKey }], 'CORP\\WEBROT')
  })
  after(async () => {
    await service?.stop()
    await world?.stop()
  })

  it('stages the next kvno beside the active one, activates it keeping the previous, and retires that after the ticket lifetime', async () => {
    service = await start({ maxTicketLifetimeMs: 4000 })
    await caller(bus)('account.create', { account: 'CORP\\WEBROT' })
    await eventually('the first credential', async () => (await issued())?.phase === 'active')
    const first = (await issued())!
    assert.deepEqual([first.kvno, first.keep], [first.kvno, []])

    // Every value the server's key takes from here on, in order.
    const seen: IssuedCredential[] = []
    const watch = await credentials.watch({ key: agentToken(server), include: KvWatchInclude.UpdatesOnly })
    void (async () => {
      for await (const entry of watch)
        if (entry.operation === 'PUT') seen.push(IssuedCredential.decode(entry.json()))
    })()
    const derivedBefore = await sample('krbfleet_account_key_derivations_total', {})
    assert.equal(derivedBefore, 1, 'the first credential derived its keys once')
    const view = await caller(bus)<RotationView>('password.set', { account: 'CORP\\WEBROT' })
    assert.equal(view.state, 'staging')
    assert.deepEqual(
      view.targets.map((t) => [t.server, t.online]),
      [[server, false]],
      'no heartbeat: offline',
    )
    // Nobody online to wait for: it commits at once and finishes, naming the server offline.
    await eventually('the rotation finishes', async () => {
      const now = await caller(bus)<RotationView>('rotation.show', { rotationId: view.rotationId })
      return now.state === 'done'
    })
    const done = await caller(bus)<RotationView>('rotation.show', { account: 'CORP\\WEBROT' })
    assert.equal(done.rotationId, view.rotationId)
    assert.equal(done.kvno, first.kvno + 1)
    assert.match(
      done.reason ?? '',
      new RegExp(
        `pending sites, offline \\(they catch up when they return\\): [a-z]+ \\(${server.replaceAll('.', '\\.')}\\)`,
      ),
    )
    await eventually(
      'active at the new kvno',
      async () => (await issued())?.kvno === first.kvno + 1 && (await issued())?.phase === 'active',
    )
    assert.deepEqual(
      seen.slice(0, 2).map((c) => [c.phase, c.kvno, c.keep, c.rotationId]),
      [
        ['staged', first.kvno + 1, [], view.rotationId],
        ['active', first.kvno + 1, [first.kvno], view.rotationId],
      ],
      'staged first (the active kvno stays beside it on the server), then active keeping the replaced kvno',
    )
    // The maximum ticket lifetime (4 s here) later, the replaced kvno is no longer kept.
    await eventually('the previous kvno retired', async () => {
      const now = await issued()
      return now?.kvno === first.kvno + 1 && now.keep.length === 0
    })
    watch.stop()
    // On /metrics: one rotation ended, partial (the server was offline); none running; the reset
    // is an LDAP operation that succeeded.
    assert.equal(await sample('krbfleet_rotations_total', { outcome: 'partial' }), 1)
    assert.equal(
      await sample('krbfleet_rotation_duration_seconds', { outcome: 'partial', le: '+Inf' }),
      1,
      'one rotation timed',
    )
    assert.equal(await sample('krbfleet_rotations_running', {}), 0)
    assert.equal(
      await sample('krbfleet_account_key_derivations_total', {}),
      2,
      'the rotation derived once for its staged, active and retiring credentials',
    )
    const resets = await sample('krbfleet_ldap_operation_seconds', {
      operation: 'set_password',
      outcome: 'ok',
      le: '+Inf',
    })
    // The create writes its password in the add; the rotation's reset is one set password.
    assert.equal(resets, 1, 'the rotation reset the password once')
    const events = await storedEvents(bus)
    const rotated = events.filter((e) => e.type === PasswordRotated.type)
    assert.deepEqual(
      rotated.map((e) => [e.data, e.correlationId]),
      [[{ rotationId: view.rotationId, account: 'CORP\\WEBROT', kvno: first.kvno + 1 }, view.rotationId]],
    )
    await service.stop()
    service = undefined
  })

  it("a finished rotation's claim left behind (its run died before releasing it) does not block the next rotation", async () => {
    registry = createMetricsRegistry({ service: 'account' })
    service = await start({})
    const rotations = await bus.kv(buckets.rotations)
    const done = await caller(bus)<RotationView>('rotation.show', { account: 'CORP\\WEBROT' })
    assert.equal(done.state, 'done')
    await rotations.create(
      `running.${accountKey('CORP\\WEBROT')}`,
      JSON.stringify({ rotationId: done.rotationId }),
    )
    const next = await caller(bus)<RotationView>('password.set', { account: 'CORP\\WEBROT' })
    assert.notEqual(next.rotationId, done.rotationId)
    assert.equal(next.state, 'staging')
    assert.match(logs.text(), /the claim of a finished rotation was left behind; released/)
    await eventually('the next rotation finishes', async () => {
      const now = await caller(bus)<RotationView>('rotation.show', { rotationId: next.rotationId })
      return now.state === 'done'
    })
    await service.stop()
    service = undefined
  })

  it('rotates by itself, as service:account, an account whose password reached the maximum age; account show tells when next', async () => {
    // A maximum age of about 8.6 s: due within a second or so of that (jitter: up to 10 % earlier).
    const maxPasswordAgeDays = 0.0001
    registry = createMetricsRegistry({ service: 'account' })
    service = await start({ maxPasswordAgeDays })
    const before = await caller(bus)<{ kvno: number; nextRotation?: string | null; passwordLastSet: string }>(
      'account.show',
      { account: 'CORP\\WEBROT' },
    )
    assert.ok(before.nextRotation, 'account show has nextRotation')
    assert.ok(Date.parse(before.nextRotation) > Date.now() - 60_000)
    const started = () =>
      storedEvents(bus).then((events) =>
        events.filter((e) => e.type === PasswordRotationStarted.type && e.actor === 'service:account'),
      )
    await eventually('a scheduled rotation started', async () => (await started()).length > 0, 400)
    await eventually(
      'AD rotated',
      async () =>
        (await caller(bus)<{ kvno: number }>('account.show', { account: 'CORP\\WEBROT' })).kvno ===
        before.kvno + 1,
    )
    const after = await caller(bus)<{ nextRotation?: string | null; passwordLastSet: string }>(
      'account.show',
      { account: 'CORP\\WEBROT' },
    )
    assert.ok(
      after.nextRotation && Date.parse(after.nextRotation) > Date.parse(before.nextRotation),
      'the next time moved on',
    )
    // The time is the schedule's: the secret's setAt plus the age, less the account's jitter.
    const record = logs.text()
    assert.match(record, /scheduled rotation: the password reached its maximum age/)
    assert.ok(
      Date.parse(after.nextRotation) <=
        nextRotationAt('CORP\\WEBROT', new Date().toISOString(), maxPasswordAgeDays).getTime(),
    )
  })
})
