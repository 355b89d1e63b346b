import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  type EventEnvelope,
  KerberosAccountRemoved,
  KrbfleetError,
  SpnConflictDetected,
  SpnsReconciled,
  streams,
} from '@krbfleet/contracts'
import { connectDirectory } from '@krbfleet/directory'
import { createUser, strongPassword } from '@krbfleet/testing'
import {
  AccountBusyError,
  desiredSpns,
  durables,
  leaseKey,
  leasesFromKv,
  ownershipFromKv,
  ownershipRecordCodec,
  SpnReconciler,
  spnDirectory,
  startSpnSync,
  topologyFromKv,
} from '../src/index.ts'
import { startWorld, type World, webPool } from './world.ts'

const lower = (values: Iterable<string>) => [...values].map((v) => v.toLowerCase()).sort()

describe('spn-sync against a real DC and NATS', { timeout: 300_000 }, () => {
  let world: World
  // Hooks have no default timeout: bound them so a stuck server fails the file instead of hanging it.
  before(
    async () => {
      world = await startWorld()
    },
    { timeout: 120_000 },
  )
  after(
    async () => {
      await world?.close()
    },
    { timeout: 60_000 },
  )

  it('given an enabled topology, then exactly the desired SPNs appear on the account', async (t) => {
    const dn = await world.createComputer('KWEB1')
    const sync = await world.startService()
    t.after(() => sync.stop())
    const revision = await world.enable(
      [
        webPool('pool01', 'dublin', {
          internalWebFqdn: 'web-int.corp.example.com',
          externalWebFqdn: 'web.example.com',
          loadBalancerNames: ['lb01.corp.example.com'],
          aliases: ['meet.corp.example.com'],
          shortNameSpns: true,
        }),
      ],
      { dublin: 'CORP\\KWEB1' },
    )
    await world.eventually(
      () => world.eventsOf(SpnsReconciled.type, 'CORP\\KWEB1').length > 0,
      'SpnsReconciled for CORP\\KWEB1',
    )
    const desired = desiredSpns(revision).get('CORP\\KWEB1')!.sorted()
    assert.equal(desired.length, 10)
    assert.deepEqual(lower(await world.spnsOf(dn)), lower(desired))
    assert.deepEqual(lower((await world.ownedSpns('CORP\\KWEB1')) ?? []), lower(desired))
    const event = world.eventsOf(SpnsReconciled.type, 'CORP\\KWEB1')[0]!
    assert.deepEqual(event.data, {
      account: 'CORP\\KWEB1',
      added: desired,
      removed: [],
      revision: revision.revision,
    })

    // Level-triggered and idempotent: reconciling again writes nothing and publishes nothing.
    const again = await sync.reconciler.reconcile('CORP\\KWEB1')
    assert.equal(again.outcome, 'unchanged')
    assert.equal(world.eventsOf(SpnsReconciled.type, 'CORP\\KWEB1').length, 1)
  })

  it('given a pool removed, then its SPNs go and an SPN added by hand stays', async (t) => {
    const dn = await world.createComputer('KWEB2')
    const sync = await world.startService()
    t.after(() => sync.stop())
    const keep = webPool('pool02a', 'cork')
    const drop = webPool('pool02b', 'cork', { aliases: ['legacy.corp.example.com'] })
    await world.enable([keep, drop], { cork: 'CORP\\KWEB2' })
    await world.eventually(async () => (await world.spnsOf(dn)).length === 3, 'three SPNs on KWEB2')
    await world.directory.modifySpns(dn, { add: ['HTTP/manual.corp.example.com'] })

    await world.enable([keep], { cork: 'CORP\\KWEB2' })
    await world.eventually(
      () =>
        world
          .eventsOf(SpnsReconciled.type, 'CORP\\KWEB2')
          .some((e) => (e.data as { removed: string[] }).removed.length > 0),
      'a removal on KWEB2',
    )
    assert.deepEqual(lower(await world.spnsOf(dn)), [
      'http/manual.corp.example.com',
      'http/pool02a.corp.example.com',
    ])
    assert.deepEqual(await world.ownedSpns('CORP\\KWEB2'), ['HTTP/pool02a.corp.example.com'])
    const listing = await sync.reconciler.list('CORP\\KWEB2')
    assert.deepEqual(
      listing.spns.map((s) => [s.spn.toLowerCase(), s.managed]),
      [
        ['http/manual.corp.example.com', false],
        ['http/pool02a.corp.example.com', true],
      ],
    )
  })

  it('given an SPN held by another computer, then SpnConflictDetected names it and the rest is applied', async (t) => {
    const dn = await world.createComputer('KWEB3')
    const otherDn = await world.createComputer('OTHER3')
    await world.directory.modifySpns(otherDn, {
      add: ['HTTP/taken.corp.example.com', 'HOST/hostonly.corp.example.com'],
    })
    const sync = await world.startService()
    t.after(() => sync.stop())
    const revision = await world.enable(
      [webPool('pool03', 'limerick', { aliases: ['Taken.corp.example.com', 'hostonly.corp.example.com'] })],
      { limerick: 'CORP\\KWEB3' },
    )
    await world.eventually(
      () =>
        world.eventsOf(SpnsReconciled.type, 'CORP\\KWEB3').length > 0 &&
        world.eventsOf(SpnConflictDetected.type, 'CORP\\KWEB3').length === 2,
      'conflicts and the reconcile of KWEB3',
    )
    // The queue may still run KWEB3 again (its start-up resync can have read the new revision):
    // let it finish, so the reconciles below, and the write once the holder lets go, are this test's.
    await sync.queue.whenIdle()
    assert.deepEqual(await world.spnsOf(dn), ['HTTP/pool03.corp.example.com'])
    assert.deepEqual(await world.spnsOf(otherDn), [
      'HOST/hostonly.corp.example.com',
      'HTTP/taken.corp.example.com',
    ])
    const conflicts = world
      .eventsOf(SpnConflictDetected.type, 'CORP\\KWEB3')
      .map((e) => e.data)
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
    assert.deepEqual(conflicts, [
      {
        account: 'CORP\\KWEB3',
        spn: 'HTTP/hostonly.corp.example.com',
        holder: otherDn,
        revision: revision.revision,
      },
      {
        account: 'CORP\\KWEB3',
        spn: 'HTTP/taken.corp.example.com',
        holder: otherDn,
        revision: revision.revision,
      },
    ])
    // A repeat reports nothing new (the record remembers what was reported).
    await sync.reconciler.reconcile('CORP\\KWEB3')
    assert.equal(world.eventsOf(SpnConflictDetected.type, 'CORP\\KWEB3').length, 2)

    // Once the holder lets go, the next reconcile writes the SPN.
    await world.directory.modifySpns(otherDn, { remove: ['HTTP/taken.corp.example.com'] })
    const outcome = await sync.reconciler.reconcile('CORP\\KWEB3')
    assert.deepEqual(outcome.added, ['HTTP/taken.corp.example.com'])
    assert.deepEqual(lower(await world.spnsOf(dn)), [
      'http/pool03.corp.example.com',
      'http/taken.corp.example.com',
    ])
  })

  it('given a site moved from account A to B, then B takes its SPNs in one reconcile without a conflict', async () => {
    const aDn = await world.createComputer('KMOVEA')
    const bDn = await world.createComputer('KMOVEB')
    const sync = await world.startService()
    const pool = webPool('pool04', 'galway', { loadBalancerNames: ['lb04.corp.example.com'] })
    await world.enable([pool, webPool('pool04x', 'sligo')], { galway: 'CORP\\KMOVEA', sligo: 'CORP\\KMOVEA' })
    await world.eventually(async () => (await world.spnsOf(aDn)).length === 3, 'A holds the SPNs')
    await sync.stop()

    // Enabled without an event and without a queue: reconcile B first, the order that needs A to let go.
    await world.enable(
      [pool, webPool('pool04x', 'sligo')],
      { galway: 'CORP\\KMOVEB', sligo: 'CORP\\KMOVEA' },
      {
        publish: false,
      },
    )
    const outcome = await sync.reconciler.reconcile('CORP\\KMOVEB')
    assert.equal(outcome.outcome, 'changed')
    assert.deepEqual(outcome.added, ['HTTP/lb04.corp.example.com', 'HTTP/pool04.corp.example.com'])
    assert.deepEqual(outcome.conflicts, [])
    assert.deepEqual(await world.spnsOf(bDn), ['HTTP/lb04.corp.example.com', 'HTTP/pool04.corp.example.com'])
    assert.deepEqual(await world.spnsOf(aDn), ['HTTP/pool04x.corp.example.com'])
    assert.equal(world.eventsOf(SpnConflictDetected.type, 'CORP\\KMOVEB').length, 0)
    const released = () =>
      world
        .eventsOf(SpnsReconciled.type, 'CORP\\KMOVEA')
        .map((e) => (e.data as { removed: string[] }).removed)
        .filter((removed) => removed.length > 0)
    await world.eventually(() => released().length > 0, 'A reported the release')
    assert.deepEqual(released(), [['HTTP/lb04.corp.example.com', 'HTTP/pool04.corp.example.com']])
    assert.deepEqual(await world.ownedSpns('CORP\\KMOVEA'), ['HTTP/pool04x.corp.example.com'])

    // And back again through the event path: A takes them back, nothing conflicts.
    const sync2 = await world.startService()
    try {
      await world.enable([pool, webPool('pool04x', 'sligo')], {
        galway: 'CORP\\KMOVEA',
        sligo: 'CORP\\KMOVEA',
      })
      await world.eventually(async () => (await world.spnsOf(aDn)).length === 3, 'A holds the SPNs again')
      await world.eventually(async () => (await world.spnsOf(bDn)).length === 0, 'B holds none')
      assert.equal(world.eventsOf(SpnConflictDetected.type, 'CORP\\KMOVEA').length, 0)
    } finally {
      await sync2.stop()
    }
  })

  it('given an SPN deleted by hand, then the periodic resync restores it', async (t) => {
    const dn = await world.createComputer('KWEB5')
    const sync = await world.startService({ resyncIntervalMs: 200 })
    t.after(() => sync.stop())
    const revision = await world.enable([webPool('pool05', 'cobh')], { cobh: 'CORP\\KWEB5' })
    await world.eventually(
      () => world.eventsOf(SpnsReconciled.type, 'CORP\\KWEB5').length === 1,
      'the first write of KWEB5 reported',
    )
    assert.deepEqual(await world.spnsOf(dn), ['HTTP/pool05.corp.example.com'])
    await world.directory.modifySpns(dn, { remove: ['HTTP/pool05.corp.example.com'] })
    // No event announces the drift: only the resync can find it.
    await world.eventually(
      () => world.eventsOf(SpnsReconciled.type, 'CORP\\KWEB5').length === 2,
      'a resync repaired KWEB5',
    )
    assert.deepEqual(world.eventsOf(SpnsReconciled.type, 'CORP\\KWEB5')[1]?.data, {
      account: 'CORP\\KWEB5',
      added: ['HTTP/pool05.corp.example.com'],
      removed: [],
      revision: revision.revision,
    })
    assert.deepEqual(await world.spnsOf(dn), ['HTTP/pool05.corp.example.com'])
  })

  it('given two replicas reconciling one account at once, then the account lease keeps them apart', async () => {
    const dn = await world.createComputer('KRACE')
    const one = await world.startService()
    const two = await world.startService()
    try {
      const revision = await world.enable(
        [webPool('poolrace', 'bantry', { aliases: ['race1.corp.example.com', 'race2.corp.example.com'] })],
        { bantry: 'CORP\\KRACE' },
        { publish: false },
      )
      // The one that finds the other's live lease is deferred (the queue's job to retry), never a
      // second writer: the SPNs are written and reported exactly once.
      const results = await Promise.allSettled([
        one.reconciler.reconcile('CORP\\KRACE'),
        two.reconciler.reconcile('CORP\\KRACE'),
      ])
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof AccountBusyError, String(r.reason))
      }
      await one.reconciler.reconcile('CORP\\KRACE')
      const desired = desiredSpns(revision).get('CORP\\KRACE')!.sorted()
      assert.deepEqual(await world.spnsOf(dn), desired)
      assert.deepEqual(await world.ownedSpns('CORP\\KRACE'), desired)
      assert.equal((await two.reconciler.reconcile('CORP\\KRACE')).outcome, 'unchanged')
      assert.equal(world.eventsOf(SpnsReconciled.type, 'CORP\\KRACE').length, 1)
    } finally {
      await one.stop()
      await two.stop()
    }
  })

  it('given a replica takes over a write whose modify lands late, then krbfleet still owns those SPNs', async () => {
    const dn = await world.createComputer('KLATE')
    const revision = await world.enable(
      [webPool('poollate', 'kinsale')],
      { kinsale: 'CORP\\KLATE' },
      { publish: false },
    )
    const ports = {
      topology: topologyFromKv(world.topologyKv),
      leases: leasesFromKv(world.ownershipKv, { logger: world.logger }),
      ownership: ownershipFromKv(world.ownershipKv, world.bus.jsm),
      events: { publish: async (e: EventEnvelope) => void (await world.bus.publish(e)) },
      logger: world.logger,
    }
    // Replica 1 records its intent and stalls before its modify (a failpoint that throws).
    const paused = new SpnReconciler({
      ...ports,
      directory: spnDirectory(world.directory),
      failpoint: (point) => {
        if (point === 'after-intent') throw new Error('replica 1 stalls here')
      },
    })
    await assert.rejects(paused.reconcile('CORP\\KLATE'), /stalls/)
    // Replica 2 takes the pending write over, having read AD before replica 1's modify lands; the
    // late modify lands just before replica 2's own, which the DC then refuses (values exist).
    const real = spnDirectory(world.directory)
    const late = new SpnReconciler({
      ...ports,
      leases: leasesFromKv(world.ownershipKv, { logger: world.logger }),
      directory: {
        ...real,
        async writeSpns(target, change) {
          await real.writeSpns(target, { add: ['HTTP/poollate.corp.example.com'], remove: [] })
          await real.writeSpns(target, change)
        },
      },
    })
    await assert.rejects(
      late.reconcile('CORP\\KLATE'),
      (err: unknown) => err instanceof KrbfleetError && err.retryable,
    )
    assert.deepEqual(await world.spnsOf(dn), ['HTTP/poollate.corp.example.com'])
    assert.deepEqual(await world.ownedSpns('CORP\\KLATE'), ['HTTP/poollate.corp.example.com'])
    // The retry finds nothing to do, and a later topology without the pool removes the SPN.
    const again = new SpnReconciler({ ...ports, directory: real })
    assert.equal((await again.reconcile('CORP\\KLATE')).outcome, 'unchanged')
    await world.enable([webPool('pooll2', 'kinsale')], { kinsale: 'CORP\\KLATE' }, { publish: false })
    const outcome = await again.reconcile('CORP\\KLATE')
    assert.deepEqual(outcome.removed, ['HTTP/poollate.corp.example.com'])
    assert.deepEqual(await world.spnsOf(dn), ['HTTP/pooll2.corp.example.com'])
    assert.ok(revision.revision > 0)
  })

  it('given the least-privilege identity (write servicePrincipalName only), then it reconciles', async () => {
    const password = strongPassword()
    const userDn = await createUser(world.dc, 'svc-spnsync', password)
    const shown = await world.dc.sambaTool(['user', 'show', 'svc-spnsync', '--attributes=objectSid'])
    const sid = /objectSid: (S-[\d-]+)/.exec(shown)?.[1]
    assert.ok(sid, shown)
    const computers = `CN=Computers,${world.dc.baseDn}`
    // lab/NOTES.md: write property servicePrincipalName on computer objects, inherited.
    await world.dc.sambaTool([
      'dsacl',
      'set',
      `--objectdn=${computers}`,
      '--action=allow',
      `--sddl=(OA;CIIO;WP;f3a64788-5306-11d1-a9c5-0000f80367c1;bf967a86-0de6-11d0-a285-00aa003049e2;${sid})`,
    ])
    const dn = await world.createComputer('KLEAST')
    const directory = await connectDirectory({
      url: world.dc.ldapsUrl,
      caFile: world.dc.caFile,
      servername: world.dc.tlsServername,
      bindDn: userDn,
      password,
    })
    const sync = await startSpnSync({ bus: world.bus, directory, logger: world.logger, resyncIntervalMs: 0 })
    try {
      // Its start-up resync is over before the account is enabled: the reconcile below is the one that writes.
      await sync.queue.whenIdle()
      await world.enable([webPool('poolleast', 'dingle')], { dingle: 'CORP\\KLEAST' }, { publish: false })
      const outcome = await sync.reconciler.reconcile('CORP\\KLEAST')
      assert.equal(outcome.outcome, 'changed')
      assert.deepEqual(await world.spnsOf(dn), ['HTTP/poolleast.corp.example.com'])
      // The same identity may not write anything else on the account.
      await assert.rejects(
        directory.modify(dn, { operation: 'replace', attribute: 'description', values: ['x'] }),
        (err: unknown) => err instanceof KrbfleetError && err.code === 'insufficient_rights',
      )

      // Nor SPNs of an account outside the delegated container: the refusal changes nothing and
      // the write intent is withdrawn (an LDAP modify is atomic).
      const outsideDn = `CN=KOUTSIDE,CN=Users,${world.dc.baseDn}`
      await world.directory.add(outsideDn, {
        objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
        sAMAccountName: 'KOUTSIDE$',
        userAccountControl: 4096,
      })
      await world.enable(
        [webPool('poolleast', 'dingle'), webPool('pooloutside', 'tralee')],
        { dingle: 'CORP\\KLEAST', tralee: 'CORP\\KOUTSIDE' },
        { publish: false },
      )
      await assert.rejects(
        sync.reconciler.reconcile('CORP\\KOUTSIDE'),
        (err: unknown) => err instanceof KrbfleetError && err.code === 'insufficient_rights',
      )
      assert.deepEqual(await world.spnsOf(outsideDn), [])
      const entry = await world.ownershipKv.get('CORP.KOUTSIDE')
      const stored = ownershipRecordCodec.decode(entry?.json())
      assert.equal(stored.pending, null)
      assert.deepEqual(stored.spns, [])
    } finally {
      await sync.stop()
      await directory.close()
    }
  })

  it('given no enabled revision, then nothing is stripped', async () => {
    // A fresh reader over an empty bucket would see no revision; the reconciler must not act on it.
    const dn = await world.createComputer('KNONE')
    await world.directory.modifySpns(dn, { add: ['HTTP/none.corp.example.com'] })
    await world.topologyKv.delete('enabled')
    const sync = await world.startService()
    try {
      const outcome = await sync.reconciler.reconcile('CORP\\KNONE')
      assert.equal(outcome.outcome, 'unchanged')
      assert.deepEqual(await world.spnsOf(dn), ['HTTP/none.corp.example.com'])
    } finally {
      await sync.stop()
    }
  })

  it("given another replica's write in flight (intent recorded, modify not yet landed), then a second replica leaves it alone", async () => {
    const dn = await world.createComputer('KLIVE')
    await world.enable([webPool('poollive', 'cobh')], { cobh: 'CORP\\KLIVE' }, { publish: false })
    const real = spnDirectory(world.directory)
    let land: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      land = resolve
    })
    // Replica 1 holds the lease and its modify hangs in flight until the gate opens.
    const one = new SpnReconciler({
      topology: topologyFromKv(world.topologyKv),
      ownership: ownershipFromKv(world.ownershipKv, world.bus.jsm),
      leases: leasesFromKv(world.ownershipKv, { logger: world.logger, holder: 'replica-1' }),
      events: { publish: async (e: EventEnvelope) => void (await world.bus.publish(e)) },
      logger: world.logger,
      directory: {
        ...real,
        async writeSpns(target, change) {
          await gate
          await real.writeSpns(target, change)
        },
      },
    })
    const first = one.reconcile('CORP\\KLIVE')
    await world.eventually(async () => {
      const entry = await world.ownershipKv.get('CORP.KLIVE')
      return entry?.operation === 'PUT' && ownershipRecordCodec.decode(entry.json()).pending !== null
    }, 'replica 1 recorded its intent')
    const intent = await world.ownershipKv.get('CORP.KLIVE')
    const two = await world.startService()
    try {
      // Replica 2 finds the live lease: deferred, nothing written, the intent untouched.
      await assert.rejects(
        two.reconciler.reconcile('CORP\\KLIVE'),
        (err: unknown) => err instanceof AccountBusyError,
      )
      assert.deepEqual(await world.spnsOf(dn), [])
      assert.equal((await world.ownershipKv.get('CORP.KLIVE'))?.revision, intent?.revision)
      land()
      assert.equal((await first).outcome, 'changed')
      // Replica 2's own queue met the live lease at start-up and retries after a backoff: let that
      // retry finish (nothing left to do) so it does not hold the lease during the checks below.
      await two.queue.whenIdle()
      assert.equal((await two.reconciler.reconcile('CORP\\KLIVE')).outcome, 'unchanged')
      assert.deepEqual(await world.spnsOf(dn), ['HTTP/poollive.corp.example.com'])
      assert.deepEqual(await world.ownedSpns('CORP\\KLIVE'), ['HTTP/poollive.corp.example.com'])
      assert.equal(world.eventsOf(SpnsReconciled.type, 'CORP\\KLIVE').length, 1)
      // The lease was released: nobody holds it now.
      assert.notEqual((await world.ownershipKv.get(leaseKey('CORP\\KLIVE')))?.operation, 'PUT')
    } finally {
      land()
      await two.stop()
    }
  })

  it("given one account's write in flight, then the same replica reconciles another account meanwhile, and the same account after it", async () => {
    const slowDn = await world.createComputer('KPAR1')
    const fastDn = await world.createComputer('KPAR2')
    await world.enable(
      [webPool('poolpar1', 'kilkee'), webPool('poolpar2', 'ennis')],
      { kilkee: 'CORP\\KPAR1', ennis: 'CORP\\KPAR2' },
      { publish: false },
    )
    const real = spnDirectory(world.directory)
    let land: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      land = resolve
    })
    // One replica without a queue; the modify of KPAR1 hangs in flight until the gate opens.
    const replica = new SpnReconciler({
      topology: topologyFromKv(world.topologyKv),
      ownership: ownershipFromKv(world.ownershipKv, world.bus.jsm),
      leases: leasesFromKv(world.ownershipKv, { logger: world.logger }),
      events: { publish: async (e: EventEnvelope) => void (await world.bus.publish(e)) },
      logger: world.logger,
      directory: {
        ...real,
        async writeSpns(target, change) {
          if (target === slowDn) await gate
          await real.writeSpns(target, change)
        },
      },
    })
    const slow = replica.reconcile('CORP\\KPAR1')
    try {
      await world.eventually(async () => {
        const entry = await world.ownershipKv.get('CORP.KPAR1')
        return entry?.operation === 'PUT' && ownershipRecordCodec.decode(entry.json()).pending !== null
      }, 'KPAR1 recorded its intent')
      // No process-wide lock: another account is reconciled while KPAR1's modify is in flight.
      assert.equal((await replica.reconcile('CORP\\KPAR2')).outcome, 'changed')
      assert.deepEqual(await world.spnsOf(fastDn), ['HTTP/poolpar2.corp.example.com'])
      assert.deepEqual(await world.spnsOf(slowDn), [])
      // A second run of KPAR1 in the same replica waits for the first instead of writing beside it.
      const again = replica.reconcile('CORP\\KPAR1')
      land()
      assert.equal((await slow).outcome, 'changed')
      assert.equal((await again).outcome, 'unchanged')
    } finally {
      land()
      await slow.catch(() => {})
    }
    assert.deepEqual(await world.spnsOf(slowDn), ['HTTP/poolpar1.corp.example.com'])
    assert.equal(world.eventsOf(SpnsReconciled.type, 'CORP\\KPAR1').length, 1)
  })

  it('given a replica died holding the lease with its intent recorded, then another takes over only once the lease expired', async () => {
    const dn = await world.createComputer('KDEAD')
    await world.enable([webPool('pooldead', 'youghal')], { youghal: 'CORP\\KDEAD' }, { publish: false })
    const dying = new SpnReconciler({
      topology: topologyFromKv(world.topologyKv),
      ownership: ownershipFromKv(world.ownershipKv, world.bus.jsm),
      leases: leasesFromKv(world.ownershipKv, { logger: world.logger, holder: 'dying' }),
      events: { publish: async (e: EventEnvelope) => void (await world.bus.publish(e)) },
      logger: world.logger,
      directory: spnDirectory(world.directory),
      failpoint: (point) => {
        if (point === 'after-intent') throw new Error('killed here')
      },
    })
    await assert.rejects(dying.reconcile('CORP\\KDEAD'), /killed here/)
    // A SIGKILLed process never releases its lease: put back what it would have left. It lives long
    // enough that the first attempt below meets it live however slow the machine is.
    await world.ownershipKv.put(
      leaseKey('CORP\\KDEAD'),
      JSON.stringify({ holder: 'dying', expiresAt: Date.now() + 5_000 }),
    )
    // The other replica, without a queue of its own: only this test reconciles the account, so the
    // take-over below is this replica's and no queue retry can win it first.
    const replica = new SpnReconciler({
      topology: topologyFromKv(world.topologyKv),
      ownership: ownershipFromKv(world.ownershipKv, world.bus.jsm),
      leases: leasesFromKv(world.ownershipKv, { logger: world.logger, timing: { marginMs: 300 } }),
      events: { publish: async (e: EventEnvelope) => void (await world.bus.publish(e)) },
      logger: world.logger,
      directory: spnDirectory(world.directory),
    })
    await assert.rejects(replica.reconcile('CORP\\KDEAD'), (err: unknown) => err instanceof AccountBusyError)
    assert.deepEqual(await world.spnsOf(dn), [])
    // Retried as the queue would, until the lease expired: the leftover intent is completed, once.
    let outcome = ''
    await world.eventually(async () => {
      try {
        outcome = (await replica.reconcile('CORP\\KDEAD')).outcome
        return true
      } catch (err) {
        if (err instanceof AccountBusyError) return false
        throw err
      }
    }, 'the dead replica lease expired')
    assert.equal(outcome, 'changed')
    assert.deepEqual(await world.spnsOf(dn), ['HTTP/pooldead.corp.example.com'])
    assert.deepEqual(await world.ownedSpns('CORP\\KDEAD'), ['HTTP/pooldead.corp.example.com'])
    assert.equal(world.eventsOf(SpnsReconciled.type, 'CORP\\KDEAD').length, 1)
  })

  it('given KerberosAccountRemoved, then the ownership record is dropped and nothing is reconciled for it', async () => {
    const dn = await world.createComputer('KGONE')
    const sync = await world.startService()
    try {
      // The start-up resync is over before the account is enabled (no event): only this test
      // reconciles it, so every outcome below is this test's own.
      await sync.queue.whenIdle()
      await world.enable(
        [webPool('poolgone', 'clonakilty')],
        { clonakilty: 'CORP\\KGONE' },
        { publish: false },
      )
      assert.equal((await sync.reconciler.reconcile('CORP\\KGONE')).outcome, 'changed')
      assert.deepEqual(await world.ownedSpns('CORP\\KGONE'), ['HTTP/poolgone.corp.example.com'])
      const eventsBefore = world.eventsOf(SpnsReconciled.type, 'CORP\\KGONE').length
      // The account service deletes the object from AD, then publishes the event.
      await world.directory.delete(dn)
      await world.bus.publish(
        KerberosAccountRemoved.create({ account: 'CORP\\KGONE', dn }, { actor: 'user:test' }),
      )
      await world.eventually(
        async () => (await world.ownershipKv.get('CORP.KGONE'))?.operation !== 'PUT',
        'the ownership record dropped',
      )
      assert.equal(await world.ownedSpns('CORP\\KGONE'), null)
      assert.notEqual((await world.ownershipKv.get(leaseKey('CORP\\KGONE')))?.operation, 'PUT')
      // Still assigned in the enabled revision, it is looked at, but nothing is written or recorded.
      assert.equal((await sync.reconciler.reconcile('CORP\\KGONE')).outcome, 'missing-account')
      assert.equal(await world.ownedSpns('CORP\\KGONE'), null)
      assert.equal(world.eventsOf(SpnsReconciled.type, 'CORP\\KGONE').length, eventsBefore)
      // Once no revision assigns it, no resync lists it any more.
      await world.enable([], {}, { publish: false })
      assert.ok(!(await sync.reconciler.accounts()).includes('CORP\\KGONE'))
    } finally {
      await sync.stop()
    }
  })

  it('given a removal delivered late, after the account was created again and reconciled, then its ownership record survives', async () => {
    const dn = await world.createComputer('KAGAIN')
    const sync = await world.startService()
    try {
      // The start-up resync is over before the account is enabled (no event): no run of the queue
      // can reconcile the name created again below; only this test does.
      await sync.queue.whenIdle()
      await world.enable([webPool('poolagain', 'bantry')], { bantry: 'CORP\\KAGAIN' }, { publish: false })
      assert.equal((await sync.reconciler.reconcile('CORP\\KAGAIN')).outcome, 'changed')
      // The account service removes the account: AD object first, then the event (held back here).
      await world.directory.delete(dn)
      const removed = KerberosAccountRemoved.create({ account: 'CORP\\KAGAIN', dn }, { actor: 'user:test' })
      // The name is created again and reconciled before the removal's consumer gets to it.
      const again = await world.createComputer('KAGAIN')
      assert.equal((await sync.reconciler.reconcile('CORP\\KAGAIN')).outcome, 'changed')
      assert.deepEqual(await world.spnsOf(again), ['HTTP/poolagain.corp.example.com'])
      const before = (await world.ownershipKv.get('CORP.KAGAIN'))!.revision

      const { seq } = await world.bus.publish(removed)
      await world.eventually(async () => {
        const info = await world.bus.jsm.consumers.info(streams.events.name, durables.accountRemoved)
        return info.ack_floor.stream_seq >= seq
      }, 'the late removal handled (acknowledged)')
      assert.deepEqual(await world.ownedSpns('CORP\\KAGAIN'), ['HTTP/poolagain.corp.example.com'])
      assert.equal((await world.ownershipKv.get('CORP.KAGAIN'))!.revision, before)
      // Still owned: a topology without the pool removes the SPN krbfleet wrote.
      await world.enable([], {}, { publish: false })
      const outcome = await sync.reconciler.reconcile('CORP\\KAGAIN')
      assert.deepEqual(outcome.removed, ['HTTP/poolagain.corp.example.com'])
      assert.deepEqual(await world.spnsOf(again), [])
    } finally {
      await sync.stop()
    }
  })

  it('given a removal handled after the name was created again but before it was reconciled, then the old record is dropped', async () => {
    const dn = await world.createComputer('KOLD')
    const sync = await world.startService()
    try {
      // The start-up resync is over before the account is enabled (no event): no run of the queue
      // can reconcile the name created again below, which would make its record the new account's.
      await sync.queue.whenIdle()
      await world.enable([webPool('poolold', 'youghal')], { youghal: 'CORP\\KOLD' }, { publish: false })
      assert.equal((await sync.reconciler.reconcile('CORP\\KOLD')).outcome, 'changed')
      await world.directory.delete(dn)
      const removedAt = new Date().toISOString()
      await world.createComputer('KOLD')
      // The record is the old account's (written before the removal): it goes, though AD has the name.
      await sync.reconciler.forget('CORP\\KOLD', removedAt)
      assert.equal(await world.ownedSpns('CORP\\KOLD'), null)
      assert.notEqual((await world.ownershipKv.get(leaseKey('CORP\\KOLD')))?.operation, 'PUT')
    } finally {
      await world.enable([], {}, { publish: false })
      await sync.stop()
    }
  })

  it('given two replicas sharing the triggers and rapid enables, then every SPN is written, reported and owned once', async () => {
    const dn = await world.createComputer('KBURST')
    const one = await world.startService()
    const two = await world.startService()
    try {
      const pools: ReturnType<typeof webPool>[] = []
      for (let i = 1; i <= 12; i++) {
        pools.push(webPool(`burst${i}`, 'kenmare'))
        // Published TopologyEnabled events are shared by the replicas' durable consumers.
        await world.enable([...pools], { kenmare: 'CORP\\KBURST' })
      }
      const desired = pools.map((p) => `HTTP/${p.fqdn}`).sort()
      await world.eventually(
        async () => JSON.stringify(lower(await world.spnsOf(dn))) === JSON.stringify(lower(desired)),
        'every pool SPN on the account',
      )
      await Promise.all([one.queue.whenIdle(), two.queue.whenIdle()])
      assert.deepEqual(await world.ownedSpns('CORP\\KBURST'), desired)
      const added = world
        .eventsOf(SpnsReconciled.type, 'CORP\\KBURST')
        .flatMap((e) => (e.data as { added: string[] }).added)
      assert.deepEqual(added.sort(), desired, 'each SPN reported exactly once')
    } finally {
      await one.stop()
      await two.stop()
    }
  })
})
