import assert from 'node:assert/strict'
import { test } from 'node:test'
import { emptyTopology, type TopologyDocument } from '@krbfleet/contracts'
import fc from 'fast-check'
import { applyDelta, deltaBetween, isEmptyDelta } from '../src/delta.ts'

/** A document in the store's form: every collection sorted by key, one item per key. */
const canonical = (document: TopologyDocument): TopologyDocument =>
  applyDelta(emptyTopology(), deltaBetween(emptyTopology(), document))

const name = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')
// Up to 40 servers out of 60 names: deltas both of a few (spliced) and of many (merged) items.
const host = fc.nat(59).map((n) => `h${n}.corp.example.com`)

/** Topologies in canonical form with small key spaces, so that two of them share and differ. */
const topology: fc.Arbitrary<TopologyDocument> = fc
  .record({
    sites: fc.uniqueArray(fc.record({ name }), { selector: (s) => s.name }),
    pools: fc.uniqueArray(
      fc.record({
        fqdn: host,
        site: name,
        webServices: fc.boolean(),
        loadBalancerNames: fc.array(host, { maxLength: 2 }),
        aliases: fc.constant([]),
        shortNameSpns: fc.boolean(),
      }),
      { selector: (p) => p.fqdn },
    ),
    servers: fc.uniqueArray(
      fc.record({ fqdn: host, pool: host, backend: fc.constantFrom('iis' as const, 'keytab' as const) }),
      { selector: (s) => s.fqdn, maxLength: 40 },
    ),
    assignments: fc.uniqueArray(fc.record({ site: name, account: fc.constantFrom('CORP\\A', 'CORP\\B') }), {
      selector: (a) => a.site,
    }),
    agents: fc.uniqueArray(
      fc.record({
        server: host,
        encryptionKey: fc.constantFrom('k'.repeat(43), 'j'.repeat(43)),
        enrolledAt: fc.constant('2026-12-07T10:00:00.000Z'),
      }),
      { selector: (a) => a.server },
    ),
  })
  // Plain objects, as stored values are read back.
  .map((t) => canonical(JSON.parse(JSON.stringify(t))))

test('applying the delta between two topologies to the first gives the second', () => {
  fc.assert(
    fc.property(topology, topology, (a, b) => {
      assert.deepEqual(applyDelta(a, deltaBetween(a, b)), b)
    }),
    { numRuns: 500 },
  )
})

test('the delta of a topology to itself is empty, and applying it changes nothing', () => {
  fc.assert(
    fc.property(topology, (a) => {
      const delta = deltaBetween(a, structuredClone(a))
      assert.ok(isEmptyDelta(delta))
      assert.deepEqual(applyDelta(a, delta), a)
    }),
  )
})

test('a delta holds only what changed: one server added to a hundred is one put', () => {
  const pool = 'pool.corp.example.com'
  const servers = Array.from({ length: 100 }, (_, i) => ({
    fqdn: `web${String(i).padStart(3, '0')}.corp.example.com`,
    pool,
    backend: 'keytab' as const,
  }))
  const before = { ...emptyTopology(), servers }
  const added = { fqdn: 'web050a.corp.example.com', pool, backend: 'iis' as const }
  const after = canonical({ ...before, servers: [...servers, added] })
  assert.deepEqual(deltaBetween(before, after), { servers: { put: [added] } })
  assert.equal(after.servers[51], added, 'kept in key order')
  // Collections the delta does not touch are shared, not copied.
  assert.equal(applyDelta(before, deltaBetween(before, after)).sites, before.sites)
})
