import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  type AnyEnvelope,
  accountKey,
  buckets,
  type Pool,
  subjects,
  TopologyEnabled,
  type TopologyRevision,
} from '@krbfleet/contracts'
import type { Bus, KV } from '@krbfleet/bus'
import type { Directory } from '@krbfleet/directory'
import { createLogger, type Logger, silentLogger } from '@krbfleet/logging'
import type { NatsServer, TestDc } from '@krbfleet/testing'
import { enableRevision } from '@krbfleet/testing/topology'
import { startWorld as startServers } from '@krbfleet/testing/world'
import { TopologyStore } from '@krbfleet/topology-store'
import { type LeaseTiming, ownershipRecordCodec, type SpnSync, startSpnSync } from '../src/index.ts'
import { revision as makeRevision } from './fixtures.ts'

/**
 * Real servers for the integration tests: one nats-server with JetStream and one Samba AD DC per
 * test file, an admin LDAPS connection to arrange AD by hand, and the topology written to KV with the
 * topology service's own store (the snapshot, then the enabled number), followed by TopologyEnabled.
 */
const run = promisify(execFile)

export interface World {
  nats: NatsServer
  dc: TestDc
  bus: Bus
  directory: Directory
  logger: Logger
  topologyKv: KV
  ownershipKv: KV
  /** Every spn-domain event seen since the world started, once per envelope id. */
  events: AnyEnvelope[]
  /** The spn-domain events of one type for one account. */
  eventsOf(type: string, account: string): AnyEnvelope[]
  /** spn-sync in this process on the world's bus and an admin directory connection. */
  startService(options?: { resyncIntervalMs?: number; leaseTiming?: Partial<LeaseTiming> }): Promise<SpnSync>
  /** Creates a computer account `NAME$` in CN=Computers and returns its DN. */
  createComputer(name: string): Promise<string>
  spnsOf(dn: string): Promise<string[]>
  /**
   * Adds an SPN bypassing the DC's uniqueness check, the way duplicates reach a real forest (written
   * on two DCs before replication, or by a pre-2012 R2 DC): straight into the domain partition with
   * no ldb modules. Samba's LDAP server refuses a duplicate, whatever control is sent.
   */
  forceSpn(dn: string, spn: string): Promise<void>
  /** Writes revision n+1 (pools, site -> account) and publishes TopologyEnabled; returns n+1. */
  enable(
    pools: Pool[],
    assignments: Record<string, string>,
    options?: { publish?: boolean },
  ): Promise<TopologyRevision>
  /** Waits (bounded) until `condition` holds. */
  eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void>
  ownedSpns(account: string): Promise<string[] | null>
  close(): Promise<void>
}

export async function startWorld(): Promise<World> {
  const logger = process.env.TEST_LOG
    ? createLogger({ name: 'spn-sync-test', level: 'debug' })
    : silentLogger()
  const started = await startServers({ name: 'spn-sync-test', logger })
  const { nats, dc, bus, admin: directory } = started
  const topologyKv = await bus.kv(buckets.topology)
  const topologyStore = new TopologyStore(topologyKv)
  const ownershipKv = await bus.kv(buckets.spnOwnership)
  const events: AnyEnvelope[] = []
  // A publish retried with the same msgID is one event: the stream drops the copy, but a core
  // subscriber receives both. Count envelopes by id, as the stream does; different ids all count.
  const seen = new Set<string>()
  const sub = bus.nc.subscribe(subjects.domainEvents('spn'))
  void (async () => {
    for await (const m of sub) {
      const envelope = m.json<AnyEnvelope>()
      if (seen.has(envelope.id)) continue
      seen.add(envelope.id)
      events.push(envelope)
    }
  })()
  let current = 0
  const services: SpnSync[] = []

  const world: World = {
    nats,
    dc,
    bus,
    directory,
    logger,
    topologyKv,
    ownershipKv,
    events,
    eventsOf(type, account) {
      return events.filter((e) => e.type === type && (e.data as { account?: string }).account === account)
    },
    async startService(options = {}) {
      const sync = await startSpnSync({
        bus,
        directory,
        logger,
        resyncIntervalMs: options.resyncIntervalMs ?? 0,
        ...(options.leaseTiming ? { leaseTiming: options.leaseTiming } : {}),
      })
      services.push(sync)
      return sync
    },
    async createComputer(name) {
      const dn = `CN=${name},CN=Computers,${dc.baseDn}`
      await directory.add(dn, {
        objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
        sAMAccountName: `${name}$`,
        userAccountControl: 4096,
        dNSHostName: `${name.toLowerCase()}.${dc.dnsDomain}`,
      })
      return dn
    },
    async forceSpn(dn, spn) {
      const script = [
        'import sys, ldb',
        "db = ldb.Ldb(sys.argv[1], options=['modules:'])",
        'm = ldb.Message(); m.dn = ldb.Dn(db, sys.argv[2])',
        "m['servicePrincipalName'] = ldb.MessageElement(sys.argv[3], ldb.FLAG_MOD_ADD, 'servicePrincipalName')",
        'db.modify(m)',
      ].join('\n')
      const partition = join(`${dc.samLdb}.d`, `${dc.baseDn.toUpperCase()}.ldb`)
      // Samba's Python bindings live with the system interpreter, not with any other python3 on PATH.
      await run('/usr/bin/python3', ['-c', script, partition, dn, spn])
    },
    async spnsOf(dn) {
      return (await directory.getSpns(dn)).sort()
    },
    async enable(pools, assignments, options = {}) {
      const previous = current
      current += 1
      const revision = makeRevision(current, pools, assignments)
      await enableRevision(topologyStore, revision)
      if (options.publish === false) return revision
      await bus.publish(
        TopologyEnabled.create(
          {
            revision: current,
            previousRevision: previous,
            summary: {
              sitesAdded: [],
              sitesRemoved: [],
              poolsAdded: [],
              poolsChanged: [],
              poolsRemoved: [],
              serversAdded: [],
              serversRemoved: [],
              assignmentsChanged: [],
            },
          },
          { actor: 'user:test' },
        ),
      )
      return revision
    },
    async eventually(condition, what) {
      const deadline = Date.now() + 60_000
      while (!(await condition())) {
        if (Date.now() > deadline) assert.fail(`never happened: ${what}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async ownedSpns(account) {
      const entry = await ownershipKv.get(accountKey(account))
      if (entry === null || entry.operation !== 'PUT') return null
      return ownershipRecordCodec.decode(entry.json()).spns
    },
    async close() {
      for (const service of services) await service.stop().catch(() => {})
      sub.unsubscribe()
      await started.stop()
    },
  }
  return world
}

/** A web pool of `site` named `<name>.corp.example.com`. */
export function webPool(name: string, site: string, fields: Partial<Pool> = {}): Pool {
  return {
    fqdn: `${name}.corp.example.com`,
    site,
    webServices: true,
    loadBalancerNames: [],
    aliases: [],
    shortNameSpns: false,
    ...fields,
  }
}
