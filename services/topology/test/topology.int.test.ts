import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { callRpc, type RpcContext } from '@krbfleet/bus'
import {
  type ChangeResult,
  ErrorCode,
  KrbfleetError,
  ServiceName,
  TopologyOperation as Op,
  type TopologyRevision,
} from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { TopologyStore } from '@krbfleet/topology-store'
import { AgentEnrolments } from '../src/enrolment/enrolment.ts'
import { TopologyService, type TopologyView } from '../src/index.ts'
import { startWorld, storedEvents, type World } from './helpers.ts'

const admin = { actor: 'user:alice' }

describe('topology service against a real nats-server', () => {
  let world: World
  const call = <T = ChangeResult>(op: string, body: unknown, actor = admin) =>
    callRpc<T>(world.bus, ServiceName.Topology, op, body, actor)
  before(async () => {
    world = await startWorld()
  })
  after(async () => {
    await world?.stop()
  })

  test('changes build a draft; enable publishes numbered revisions with a summary', async () => {
    await call(Op.SiteAdd, { name: 'Redmond' })
    await call(Op.PoolAdd, {
      fqdn: 'POOL01.corp.example.com',
      site: 'redmond',
      loadBalancerNames: ['lb.corp.example.com'],
    })
    await call(Op.ServerAdd, {
      fqdn: 'web1.corp.example.com',
      pool: 'pool01.corp.example.com',
      backend: 'keytab',
    })
    await call(Op.AssignmentNew, { site: 'Redmond', account: 'corp\\kerbauth' })

    const draft = await call<TopologyView>(Op.TopologyGet, {})
    assert.equal(draft.source, 'draft')
    assert.equal(draft.enabledRevision, 0, 'nothing enabled yet: other services see nothing')
    assert.equal(draft.topology.pools[0]?.fqdn, 'pool01.corp.example.com', 'stored lower-case')
    assert.deepEqual(draft.topology.assignments, [{ site: 'Redmond', account: 'CORP\\KERBAUTH' }])

    const first = await call(Op.TopologyEnable, {})
    assert.equal(first.enabledRevision, 1)
    assert.deepEqual(first.diff?.sitesAdded, ['Redmond'])
    const again = await call(Op.TopologyEnable, {})
    assert.equal(again.enabledRevision, 1, 'enabling an unchanged draft makes no new revision')
    assert.deepEqual(again.changes, [])

    await call(Op.ServerAdd, { fqdn: 'web2.corp.example.com', pool: 'pool01.corp.example.com' })
    const enabledBefore = await call<TopologyView>(Op.TopologyGet, { source: 'enabled' })
    assert.equal(enabledBefore.topology.servers.length, 1, 'the enabled revision does not see draft changes')
    const second = await call(Op.TopologyEnable, {})
    assert.equal(second.enabledRevision, 2)
    assert.deepEqual(second.diff, {
      sitesAdded: [],
      sitesRemoved: [],
      sitesChanged: [],
      poolsAdded: [],
      poolsChanged: [],
      poolsRemoved: [],
      serversAdded: ['web2.corp.example.com'],
      serversRemoved: [],
      assignmentsChanged: [],
    })

    // the KV bucket holds the world: draft, enabled pointer, both revisions
    const store = world.topology.store
    assert.equal((await store.readEnabledNumber()).enabled, 2)
    const r1 = (await store.readRevision(1)) as TopologyRevision
    assert.equal(r1.enabledBy, 'user:alice')
    assert.equal(r1.topology.servers.length, 1)
    assert.equal((await store.readRevision(2))?.topology.servers.length, 2)
    const byNumber = await call<TopologyView>(Op.TopologyGet, { source: '1' })
    assert.equal(byNumber.topology.servers.length, 1)
    await assert.rejects(call(Op.TopologyGet, { source: '9' }), { code: ErrorCode.NotFound })
    await assert.rejects(call(Op.TopologyGet, { source: 'latest' }), {
      code: ErrorCode.Invalid,
      field: 'source',
    })

    // fine-grained events on the stream, with the actor, then TopologyEnabled
    const events = await storedEvents(world.bus)
    const types = events.map((e) => e.type.split('.')[2])
    assert.deepEqual(types, [
      'SiteAdded',
      'PoolAdded',
      'ServerAddedToSite',
      'KerberosAccountAssigned',
      'TopologyEnabled',
      'ServerAddedToSite',
      'TopologyEnabled',
    ])
    assert.ok(events.every((e) => e.actor === 'user:alice'))
    assert.deepEqual(events[6]?.data, { revision: 2, previousRevision: 1, summary: second.diff })
  })

  test('a refused change and a dry run change nothing', async () => {
    const before = await world.topology.store.readDraft()
    const eventsBefore = (await storedEvents(world.bus)).length
    await assert.rejects(call(Op.SiteRemove, { name: 'Redmond' }), (err: unknown) => {
      assert.ok(err instanceof KrbfleetError)
      assert.equal(err.code, ErrorCode.RuleViolation)
      assert.equal(err.field, 'name')
      return true
    })
    await assert.rejects(call(Op.PoolAdd, { fqdn: 'x', site: 'Redmond', extra: 1 }), {
      code: ErrorCode.Invalid,
    })
    const dry = await call(Op.SiteRemove, { name: 'Redmond', force: true, dryRun: true })
    assert.equal(dry.dryRun, true)
    assert.deepEqual(
      dry.changes.map((c) => c.type),
      [
        'ServerRemovedFromSite',
        'ServerRemovedFromSite',
        'PoolRemoved',
        'KerberosAccountUnassigned',
        'SiteRemoved',
      ],
    )
    const dryEnable = await call(Op.TopologyEnable, { dryRun: true })
    assert.equal(dryEnable.dryRun, true)
    const afterwards = await world.topology.store.readDraft()
    assert.deepEqual(afterwards, before)
    assert.equal((await storedEvents(world.bus)).length, eventsBefore)
  })

  test('plan shows the diff against the draft; apply makes it so', async () => {
    const document = {
      sites: [{ name: 'Redmond' }, { name: 'Dublin' }],
      pools: [
        { fqdn: 'pool01.corp.example.com', site: 'Redmond', loadBalancerNames: ['lb.corp.example.com'] },
        { fqdn: 'pool02.corp.example.com', site: 'Dublin' },
      ],
      servers: [
        { fqdn: 'web1.corp.example.com', pool: 'pool01.corp.example.com', backend: 'keytab' as const },
      ],
      assignments: [{ site: 'Redmond', account: 'CORP\\KERBAUTH' }],
    }
    const plan = await call(Op.TopologyPlan, { document })
    assert.deepEqual(plan.diff?.sitesAdded, ['Dublin'])
    assert.deepEqual(plan.diff?.serversRemoved, ['web2.corp.example.com'])
    const applied = await call(Op.TopologyApply, { document })
    assert.equal(applied.dryRun, false)
    assert.deepEqual(applied.diff, plan.diff)
    const replan = await call(Op.TopologyPlan, { document })
    assert.ok(Object.values(replan.diff ?? {}).every((x) => x.length === 0))
  })

  test('two concurrent writers: every change survives or its writer gets 409, none is lost', async () => {
    // Two service instances over the same bucket, one CAS attempt each: races are certain to lose.
    const kv = await world.bus.kv(TopologyStore.bucket)
    const make = () =>
      new TopologyService({
        store: new TopologyStore(kv),
        publish: (e) => world.bus.publish(e),
        logger: silentLogger(),
        casAttempts: 1,
      })
    const a = make()
    const b = make()
    const names = Array.from({ length: 16 }, (_, i) => `race${i}`)
    const outcomes = await Promise.allSettled(
      names.map((name, i) => (i % 2 ? a : b).change({ type: 'addSite', name }, { actor: 'user:race' })),
    )
    const won = names.filter((_, i) => outcomes[i]?.status === 'fulfilled')
    const lost = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[]
    for (const l of lost) {
      assert.ok(l.reason instanceof KrbfleetError)
      assert.equal(l.reason.code, ErrorCode.Conflict)
      assert.equal(l.reason.httpStatus, 409)
    }
    assert.ok(lost.length > 0, 'with one attempt each some writers lose')
    const sites = (await world.topology.store.readDraft()).topology.sites.map((s) => s.name)
    assert.deepEqual(
      sites.filter((s) => s.startsWith('race')).sort(),
      [...won].sort(),
      'exactly the changes that were answered ok',
    )
    // With retries (the default), both of two concurrent writers land.
    const c = new TopologyService({
      store: new TopologyStore(kv),
      publish: (e) => world.bus.publish(e),
      logger: silentLogger(),
    })
    for (let round = 0; round < 8; round++) {
      await Promise.all([
        c.change({ type: 'addSite', name: `left${round}` }, { actor: 'user:race' }),
        world.topology.service.change({ type: 'addSite', name: `right${round}` }, { actor: 'user:race' }),
      ])
    }
    const all = (await world.topology.store.readDraft()).topology.sites.map((s) => s.name)
    for (let round = 0; round < 8; round++) {
      assert.ok(
        all.includes(`left${round}`) && all.includes(`right${round}`),
        `round ${round}: both survived`,
      )
    }
  })

  test('enrolments racing on the draft: a loser keeps its one-time token and enrols when it retries', async () => {
    // One compare-and-set attempt per change, so that concurrent enrolments are certain to lose.
    const kv = await world.bus.kv(TopologyStore.bucket)
    const service = new TopologyService({
      store: new TopologyStore(kv),
      publish: (e) => world.bus.publish(e),
      logger: silentLogger(),
      casAttempts: 1,
    })
    const enrolments = new AgentEnrolments({ kv, service, logger: silentLogger() })
    const servers = Array.from({ length: 12 }, (_, i) => `racer${i}.corp.example.com`)
    await world.topology.service.change({ type: 'addSite', name: 'Racing' }, { actor: 'user:race' })
    await world.topology.service.change(
      { type: 'addPool', pool: { fqdn: 'race.corp.example.com', site: 'Racing' } },
      { actor: 'user:race' },
    )
    for (const fqdn of servers)
      await world.topology.service.change(
        { type: 'addServer', server: { fqdn, pool: 'race.corp.example.com', backend: 'keytab' } },
        { actor: 'user:race' },
      )
    const ctx = (server: string) => ({ actor: 'user:race', server }) as RpcContext
    const tokens = await Promise.all(servers.map((server) => enrolments.issueToken({ server }, ctx(server))))
    const key = (i: number) => `${String.fromCharCode(65 + i)}${'k'.repeat(42)}`
    const enrol = (i: number) =>
      enrolments.enrol({ token: tokens[i]!.token, encryptionKey: key(i) }, ctx(servers[i]!))
    const first = await Promise.allSettled(servers.map((_, i) => enrol(i)))
    const lost = servers.flatMap((_, i) => (first[i]!.status === 'rejected' ? [i] : []))
    assert.ok(lost.length > 0, 'with one attempt each some enrolments lose the race')
    for (const i of lost) {
      const reason = (first[i] as PromiseRejectedResult).reason as KrbfleetError
      assert.equal(reason.code, ErrorCode.Conflict, reason.message)
      await enrol(i)
    }
    const agents = (await world.topology.store.readDraft()).topology.agents
    assert.deepEqual(
      servers.map((s, i) => agents.find((a) => a.server === s)?.encryptionKey === key(i)),
      servers.map(() => true),
      'every server enrolled with its own key',
    )
    await assert.rejects(
      enrolments.enrol({ token: tokens[0]!.token, encryptionKey: key(20) }, ctx(servers[0]!)),
      /token: /,
      'a used token stays used: a new key needs a new token',
    )
    await world.topology.service.change(
      { type: 'removeSite', name: 'Racing', force: true },
      { actor: 'user:race' },
    )
  })

  test('concurrent enables make one revision per draft state', async () => {
    const { enabled: before } = await world.topology.store.readEnabledNumber()
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => world.topology.service.enable({ actor: 'user:x' })),
    )
    const ok = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<ChangeResult>[]
    assert.ok(ok.length >= 1)
    const { enabled } = await world.topology.store.readEnabledNumber()
    assert.equal(enabled, before + 1)
    const events = await storedEvents(world.bus)
    const enabledEvents = events.filter((e) => e.type.endsWith('TopologyEnabled.v1'))
    assert.equal((enabledEvents.at(-1)?.data as { revision: number } | undefined)?.revision, enabled)
    assert.equal(new Set(enabledEvents.map((e) => e.id)).size, enabledEvents.length, 'one event per revision')
  })
})

describe('autoEnable', () => {
  let world: World
  before(async () => {
    world = await startWorld({ autoEnable: true })
  })
  after(async () => {
    await world?.stop()
  })
  test('every change is enabled at once', async () => {
    const r = await callRpc<ChangeResult>(
      world.bus,
      ServiceName.Topology,
      Op.SiteAdd,
      { name: 'Oslo' },
      admin,
    )
    assert.equal(r.enabledRevision, 1)
    const enabled = await callRpc<TopologyView>(
      world.bus,
      ServiceName.Topology,
      Op.TopologyGet,
      { source: 'enabled' },
      admin,
    )
    assert.deepEqual(enabled.topology.sites, [{ name: 'Oslo' }])
  })
})

describe('events a crashed writer left unpublished', () => {
  let world: World
  before(async () => {
    world = await startWorld()
  })
  after(async () => {
    await world?.stop()
  })

  test('catchUp publishes them once, with the ids of the first attempt', async () => {
    const { service, store } = world.topology
    await service.change({ type: 'addSite', name: 'Redmond' }, { actor: 'user:alice' })
    await service.enable({ actor: 'user:alice' })
    const before = await storedEvents(world.bus)

    // A writer that died after its writes, before publishing: draft change, then a whole enable.
    const draft = await store.readDraft()
    const withDublin = { ...draft.topology, sites: [...draft.topology.sites, { name: 'Dublin' }] }
    const written = await store.updateDraft(withDublin, draft.revision, {
      actor: 'user:carol',
      correlationId: 'corr-carol',
    })
    await store.createRevision({
      revision: 2,
      enabledAt: new Date().toISOString(),
      enabledBy: 'user:bob',
      draft: written,
    })
    await store.updateEnabledNumber(2, (await store.readEnabledNumber()).revision)

    // Too young: its writer may still be publishing.
    await service.catchUp()
    assert.equal((await storedEvents(world.bus)).filter((e) => e.type.endsWith('SiteAdded.v1')).length, 1)
    assert.equal(
      (await storedEvents(world.bus)).length,
      before.length + 1,
      'only TopologyEnabled 2 (actor known)',
    )

    const late = new TopologyService({
      store,
      publish: (e) => world.bus.publish(e),
      logger: silentLogger(),
      catchUpGraceMs: 0,
    })
    await late.catchUp()
    await late.catchUp()
    const after = await storedEvents(world.bus)
    const added = after.slice(before.length)
    assert.deepEqual(
      added.map((e) => [e.id, e.type.split('.')[2], e.actor]).sort(),
      [
        // The writer's actor and correlation id were stored with the draft: the event says who.
        [`topology-${written}-0`, 'SiteAdded', 'user:carol'],
        ['topology-enabled-2', 'TopologyEnabled', 'user:bob'],
      ].sort(),
    )
    assert.equal(added.find((e) => e.id === `topology-${written}-0`)?.correlationId, 'corr-carol')
    assert.deepEqual(added.find((e) => e.id === 'topology-enabled-2')?.data, {
      revision: 2,
      previousRevision: 1,
      summary: {
        sitesAdded: ['Dublin'],
        sitesRemoved: [],
        sitesChanged: [],
        poolsAdded: [],
        poolsChanged: [],
        poolsRemoved: [],
        serversAdded: [],
        serversRemoved: [],
        assignmentsChanged: [],
      },
    })
    assert.deepEqual(await store.readPublished(), { draft: written, enabled: 2, exists: true })
  })
})
