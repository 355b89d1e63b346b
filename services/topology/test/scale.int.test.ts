import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { AgentEnrolled, ServerAddedToSite, streams, TopologyEnabled } from '@krbfleet/contracts'
import { silentLogger } from '@krbfleet/logging'
import { TopologyStore } from '@krbfleet/topology-store'
import { AgentEnrolments } from '../src/enrolment/enrolment.ts'
import { enrolFleet, fleet } from './fleet.ts'
import { startWorld, storedEvents, type World } from './helpers.ts'

/**
 * Issue 16: a fleet of 20,000 servers and 20,000 agents is stored, enabled and read back through the
 * real service and a real nats-server. Every value must fit a NATS message (1 MiB), an enrolment
 * must not rewrite the topology, and the events of one apply are all published.
 */
const SERVERS = 20_000
const SITES = 20
const POOLS_PER_SITE = 5
const ENROLLING_AT_ONCE = 8

describe(`a fleet of ${SERVERS.toLocaleString('en-US')} servers and as many agents`, () => {
  let world: World
  before(async () => {
    world = await startWorld()
  })
  after(async () => {
    await world?.stop()
  })

  test('is stored change by change, enrolments never rewrite it, and one enable snapshots it', async () => {
    const { service } = world.topology
    const kv = await world.bus.kv(TopologyStore.bucket)
    const pools = SITES * POOLS_PER_SITE
    const f = fleet({
      servers: SERVERS,
      sites: SITES,
      poolsPerSite: POOLS_PER_SITE,
      account: 'CORP\\KERBAUTH',
    })
    const document = f.document
    const applied = await service.change({ type: 'applyDocument', document }, { actor: 'user:scale' })
    const events = SITES + pools + SERVERS + SITES
    // The answer lists the first thousand events and counts the rest, so that it fits one message.
    assert.equal(applied.changes.length + (applied.changesOmitted ?? 0), events)
    assert.ok(JSON.stringify(applied).length < 1024 * 1024, 'the answer fits a NATS message')
    assert.equal(applied.diff?.omitted?.serversAdded, SERVERS - 1000)
    const published = await storedEvents(world.bus)
    assert.equal(published.filter((e) => e.type === ServerAddedToSite.type).length, SERVERS)

    const enrolments = new AgentEnrolments({ kv, service, logger: silentLogger() })
    const conflicts = await enrolFleet(enrolments, f, ENROLLING_AT_ONCE)
    const draft = await new TopologyStore(kv).readDraft()
    assert.equal(draft.topology.agents.length, SERVERS)
    assert.ok(
      draft.topology.agents.every((a) => a.encryptionKey === f.key(Number(a.server.slice(3, 8)))),
      'every agent with its own key',
    )
    // The last enrolment stored itself alone: a record of a few hundred bytes, not the fleet.
    const last = await kv.get(`log.${draft.revision}`)
    assert.ok(last && last.length < 512, `the last enrolment stored ${last?.length} bytes`)
    assert.equal(
      (await storedEvents(world.bus)).filter((e) => e.type === AgentEnrolled.type).length,
      SERVERS,
      `every enrolment published (${conflicts} lost a race first and retried)`,
    )

    const enabled = await service.enable({ actor: 'user:scale' })
    assert.equal(enabled.enabledRevision, 1)
    // The enable wrote a snapshot: a reader that starts cold begins there, not at change 1.
    assert.equal((await kv.get('snapshot'))?.operation, 'PUT')
    const revision = await new TopologyStore(kv).readEnabled()
    assert.equal(revision?.topology.servers.length, SERVERS)
    assert.equal(revision?.topology.agents.length, SERVERS)
    assert.deepEqual(revision?.topology, draft.topology)
    const event = (await storedEvents(world.bus)).find((e) => e.type === TopologyEnabled.type)
    const summary = TopologyEnabled.decode(event).data.summary
    assert.equal(summary.serversAdded.length + (summary.omitted?.serversAdded ?? 0), SERVERS)
    assert.ok(JSON.stringify(event).length < streams.events.limits.maxMessageBytes)

    // The bucket holds one record per change, none near a message's size.
    const info = await world.bus.jsm.streams.info(`KV_${TopologyStore.bucket.bucket}`)
    assert.ok(
      info.state.bytes / info.state.messages < 4096,
      `${info.state.bytes} bytes in ${info.state.messages}`,
    )
  })
})
