import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Bus, callRpc } from '@krbfleet/bus'
import {
  type AccountTestReport,
  accountOperations as Op,
  buckets,
  ServiceName,
  spnOperations,
  streams,
  type TopologyRevision,
} from '@krbfleet/contracts'
import type { Directory } from '@krbfleet/directory'
import { silentLogger } from '@krbfleet/logging'
import { durables, type SpnSync, startSpnSync } from '@krbfleet/spn-sync'
import { type NatsServer, type TestDc, until } from '@krbfleet/testing'
import { enableRevision } from '@krbfleet/testing/topology'
import { startWorld, type World } from '@krbfleet/testing/world'
import { TopologyStore } from '@krbfleet/topology-store'
import type { RunningAccountService } from '../src/start.ts'
import { adminDirectory, caller, clientBus, LogCapture, newKek, startService } from './helpers.ts'

/**
 * `test account` with the real spn-sync answering `spn.desired`: an enabled topology revision
 * assigns the account to a site with a web pool; spn-sync writes the pool's SPNs; every check of
 * the account passes. Then an SPN removed by hand makes the SPN check fail.
 */
describe('test account against the real spn-sync', { timeout: 300_000 }, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let service: RunningAccountService
  let spnSync: SpnSync
  let spnBus: Bus
  let bus: Bus
  let admin: Directory
  let spnDirectory: Directory
  let call: ReturnType<typeof caller>

  const revision: TopologyRevision = {
    revision: 1,
    enabledAt: new Date().toISOString(),
    enabledBy: 'user:test',
    topology: {
      sites: [{ name: 'Redmond' }],
      pools: [
        {
          fqdn: 'pool01.corp.example.com',
          site: 'Redmond',
          webServices: true,
          loadBalancerNames: [],
          aliases: [],
          shortNameSpns: false,
        },
      ],
      servers: [{ fqdn: 'web1.corp.example.com', pool: 'pool01.corp.example.com', backend: 'keytab' }],
      assignments: [{ site: 'Redmond', account: 'CORP\\KERBAUTH' }],
      agents: [],
    },
  }

  before(async () => {
    world = await startWorld({ name: 'spn-check-test' })
    ;({ dc, nats, bus, admin } = world)
    service = await startService(dc, nats, newKek().key, new LogCapture().logger())
    spnDirectory = await adminDirectory(dc)
    const topology = new TopologyStore(await bus.kv(buckets.topology))
    await enableRevision(topology, revision)
    spnBus = await clientBus(nats)
    spnSync = await startSpnSync({
      bus: spnBus,
      directory: spnDirectory,
      logger: silentLogger(),
      resyncIntervalMs: 0,
    })
    call = caller(bus)
  })

  after(async () => {
    await spnSync?.stop()
    await spnBus?.close()
    await spnDirectory?.close()
    await service?.stop()
    await world?.stop()
  })

  it('passes every check once spn-sync has written the desired SPNs', async () => {
    await call(Op.create, { account: 'CORP\\KERBAUTH' })
    await callRpc(
      bus,
      ServiceName.SpnSync,
      spnOperations.reconcile,
      { account: 'CORP\\KERBAUTH' },
      { actor: 'user:test' },
    )
    const report = await call<AccountTestReport>(Op.test, { account: 'CORP\\KERBAUTH' })
    assert.equal(report.outcome, 'pass', JSON.stringify(report.checks, null, 2))
    const spns = report.checks.find((c) => c.check === 'spns')
    assert.match(spns?.detail ?? '', /desired SPNs present/)
  })

  it('fails the SPN check when a desired SPN is missing from AD', async () => {
    // spn-sync's own run for the first test's KerberosAccountCreated may come late and put back the
    // SPN removed below: wait until that event is handled (acknowledged: the account was enqueued)
    // and the queue has nothing left to run.
    await until('spn-sync handled KerberosAccountCreated', async () => {
      const info = await bus.jsm.consumers.info(streams.events.name, durables.accountCreated)
      return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq > 0
    })
    await spnSync.queue.whenIdle()
    const dn = 'CN=KERBAUTH,CN=Computers,DC=corp,DC=example,DC=com'
    const present = await admin.getSpns(dn)
    assert.ok(present.length > 0)
    await admin.modifySpns(dn, { remove: [present[0] as string] })
    const report = await call<AccountTestReport>(Op.test, { account: 'CORP\\KERBAUTH' })
    const spns = report.checks.find((c) => c.check === 'spns')
    assert.equal(spns?.status, 'fail')
    assert.ok(spns?.detail.includes(present[0] as string), spns?.detail)
    assert.equal(report.outcome, 'fail')
  })
})
