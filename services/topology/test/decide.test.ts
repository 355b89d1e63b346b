import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { emptyTopology, KrbfleetError, type TopologyDocument } from '@krbfleet/contracts'
import fc from 'fast-check'
import {
  decide,
  diffTopology,
  eventsBetween,
  evolve,
  execute,
  type TopologyCommand,
  type TopologyEvent,
} from '../src/domain/index.ts'

/** given (commands already accepted), when (a command), then (events or the error). */
function given(...commands: TopologyCommand[]): TopologyDocument {
  return commands.reduce((state, c) => execute(state, c).state, emptyTopology())
}
function refused(
  state: TopologyDocument,
  command: TopologyCommand,
  code: string,
  field: string,
  rule: RegExp,
) {
  const before = JSON.stringify(state)
  assert.throws(
    () => decide(state, command),
    (err: unknown) => {
      assert.ok(err instanceof KrbfleetError, 'a KrbfleetError')
      assert.equal(err.code, code)
      assert.equal(err.field, field)
      assert.match(err.message, rule)
      return true
    },
  )
  assert.equal(JSON.stringify(state), before, 'nothing changed')
}

const site = (name = 'Redmond'): TopologyCommand => ({ type: 'addSite', name })
const pool = (fqdn = 'pool01.corp.example.com', s = 'Redmond', extra = {}): TopologyCommand => ({
  type: 'addPool',
  pool: { fqdn, site: s, ...extra },
})
const server = (fqdn = 'web1.corp.example.com', p = 'pool01.corp.example.com'): TopologyCommand => ({
  type: 'addServer',
  server: { fqdn, pool: p, backend: 'keytab' },
})
const assign = (s = 'Redmond', account = 'CORP\\KERBAUTH'): TopologyCommand => ({
  type: 'newAssignment',
  site: s,
  account,
})
const base = () => given(site(), pool(), server(), assign())

describe('sites', () => {
  test('add: SiteAdded', () => {
    assert.deepEqual(decide(emptyTopology(), site()), [{ type: 'SiteAdded', site: 'Redmond' }])
  })
  test('add: names are unique regardless of case', () => {
    refused(given(site()), site('REDMOND'), 'already_exists', 'name', /already exists/)
  })
  test('add: a bad name is refused naming the rule', () => {
    refused(emptyTopology(), site('a b'), 'rule_violation', 'name', /not a valid site name/)
    refused(emptyTopology(), site('x'.repeat(65)), 'rule_violation', 'name', /1-64/)
  })
  test('remove: a site with pools is refused unless forced', () => {
    refused(base(), { type: 'removeSite', name: 'Redmond' }, 'rule_violation', 'name', /still has 1 pool/)
  })
  test('remove forced: servers, pools and the assignment go too, with events', () => {
    const state = base()
    const { state: after, events } = execute(state, { type: 'removeSite', name: 'redmond', force: true })
    assert.deepEqual(
      events.map((e) => e.type),
      ['ServerRemovedFromSite', 'PoolRemoved', 'KerberosAccountUnassigned', 'SiteRemoved'],
    )
    assert.deepEqual(after, emptyTopology())
  })
  test('remove: unknown site is not found', () => {
    refused(emptyTopology(), { type: 'removeSite', name: 'x' }, 'not_found', 'name', /does not exist/)
  })
  test('remove: an empty site goes', () => {
    assert.deepEqual(decide(given(site()), { type: 'removeSite', name: 'Redmond' }), [
      { type: 'SiteRemoved', site: 'Redmond' },
    ])
  })
})

describe('sites marked NTLM only', () => {
  const mark = (name = 'Redmond', ntlmOnly = true): TopologyCommand => ({ type: 'setSite', name, ntlmOnly })
  test('add with the mark: SiteAdded carries it, the site holds it', () => {
    const { state, events } = execute(emptyTopology(), { type: 'addSite', name: 'Redmond', ntlmOnly: true })
    assert.deepEqual(events, [{ type: 'SiteAdded', site: 'Redmond', ntlmOnly: true }])
    assert.deepEqual(state.sites, [{ name: 'Redmond', ntlmOnly: true }])
  })
  test('set: SiteChanged both ways, the mark absent when false; the same value is no event', () => {
    const marked = execute(given(site()), mark('redmond'))
    assert.deepEqual(marked.events, [{ type: 'SiteChanged', site: 'Redmond', ntlmOnly: true }])
    assert.deepEqual(decide(marked.state, mark()), [], 'marking again changes nothing')
    const cleared = execute(marked.state, mark('Redmond', false))
    assert.deepEqual(cleared.events, [{ type: 'SiteChanged', site: 'Redmond', ntlmOnly: false }])
    assert.deepEqual(cleared.state.sites, [{ name: 'Redmond' }])
  })
  test('set: a site with an account cannot be marked; an unknown site is not found', () => {
    refused(base(), mark(), 'conflict', 'ntlmOnly', /CORP\\KERBAUTH assigned.*remove the assignment first/)
    refused(emptyTopology(), mark('Nowhere'), 'not_found', 'name', /does not exist/)
  })
  test('assign: a marked site is refused, naming the mark and how to take it away', () => {
    refused(given(site(), mark()), assign(), 'conflict', 'site', /marked NTLM only.*--no-ntlm-only/)
  })
  test('apply: the mark round-trips through the document, and an assignment beside it is refused', () => {
    const document = { sites: [{ name: 'Redmond', ntlmOnly: true }, { name: 'Dublin' }] }
    const { state } = execute(emptyTopology(), { type: 'applyDocument', document })
    assert.deepEqual(state.sites, [{ name: 'Dublin' }, { name: 'Redmond', ntlmOnly: true }], 'sorted by name')
    assert.deepEqual(decide(state, { type: 'applyDocument', document }), [], 'applying again changes nothing')
    const unmarked = execute(state, {
      type: 'applyDocument',
      document: { sites: [{ name: 'Redmond' }, { name: 'Dublin' }] },
    })
    assert.deepEqual(unmarked.events, [{ type: 'SiteChanged', site: 'Redmond', ntlmOnly: false }])
    assert.deepEqual(diffTopology(state, unmarked.state).sitesChanged, ['Redmond'])
    refused(
      emptyTopology(),
      {
        type: 'applyDocument',
        document: { ...document, assignments: [{ site: 'Redmond', account: 'CORP\\X' }] },
      },
      'conflict',
      'assignments.0.site',
      /marked NTLM only/,
    )
  })
})

describe('pools', () => {
  test('add: canonical lower-case FQDNs, defaults filled in', () => {
    const [event] = decide(
      given(site()),
      pool('POOL01.Corp.Example.COM.', 'redmond', {
        aliases: ['WWW.corp.example.com', 'www.corp.example.com'],
      }),
    )
    assert.deepEqual(event, {
      type: 'PoolAdded',
      pool: {
        fqdn: 'pool01.corp.example.com',
        site: 'Redmond',
        webServices: true,
        loadBalancerNames: [],
        aliases: ['www.corp.example.com'],
        shortNameSpns: false,
      },
    })
  })
  test('add: FQDNs must be valid per RFC 1123', () => {
    refused(given(site()), pool('-bad.corp.example.com'), 'rule_violation', 'fqdn', /RFC 1123/)
    refused(given(site()), pool('pool01'), 'rule_violation', 'fqdn', /not fully qualified/)
    refused(
      given(site()),
      pool('pool01.corp.example.com', 'Redmond', { aliases: ['ok.corp.example.com', 'a_b.x.com'] }),
      'rule_violation',
      'aliases.1',
      /RFC 1123/,
    )
    refused(
      given(site()),
      pool('pool01.corp.example.com', 'Redmond', { internalWebFqdn: 'x..y' }),
      'rule_violation',
      'internalWebFqdn',
      /RFC 1123/,
    )
  })
  test('add: the site must exist', () => {
    refused(emptyTopology(), pool(), 'not_found', 'site', /site 'Redmond' does not exist/)
  })
  test('add: a pool is in exactly one site (unique FQDN)', () => {
    const state = given(site(), site('Dublin'), pool())
    refused(state, pool('pool01.corp.example.com', 'Dublin'), 'already_exists', 'fqdn', /exactly one site/)
  })
  test('add: a web name belongs to one pool', () => {
    const state = given(
      site(),
      pool('pool01.corp.example.com', 'Redmond', { loadBalancerNames: ['lb.corp.example.com'] }),
    )
    refused(
      state,
      pool('pool02.corp.example.com', 'Redmond', { aliases: ['LB.corp.example.com'] }),
      'conflict',
      'aliases.0',
      /already a name of pool 'pool01/,
    )
    refused(state, pool('lb.corp.example.com'), 'conflict', 'fqdn', /already a name/)
  })
  test('set: changes fields, keeps others, PoolChanged with previous', () => {
    const state = given(site(), pool())
    const events = decide(state, {
      type: 'setPool',
      patch: { fqdn: 'pool01.corp.example.com', aliases: ['a.corp.example.com'], shortNameSpns: true },
    })
    assert.equal(events.length, 1)
    const e = events[0] as Extract<TopologyEvent, { type: 'PoolChanged' }>
    assert.deepEqual(e.pool.aliases, ['a.corp.example.com'])
    assert.equal(e.pool.shortNameSpns, true)
    assert.deepEqual(e.previous.aliases, [])
  })
  test('set: null clears an optional name; no change means no event', () => {
    const state = given(
      site(),
      pool('pool01.corp.example.com', 'Redmond', { internalWebFqdn: 'in.corp.example.com' }),
    )
    const { state: after } = execute(state, {
      type: 'setPool',
      patch: { fqdn: 'pool01.corp.example.com', internalWebFqdn: null },
    })
    assert.equal(after.pools[0]?.internalWebFqdn, undefined)
    assert.deepEqual(
      decide(after, { type: 'setPool', patch: { fqdn: 'pool01.corp.example.com', webServices: true } }),
      [],
    )
  })
  test('set: unknown pool, moving sites, and taken names are refused', () => {
    const state = given(site(), pool(), pool('pool02.corp.example.com'))
    refused(
      state,
      { type: 'setPool', patch: { fqdn: 'nope.corp.example.com' } },
      'not_found',
      'fqdn',
      /does not exist/,
    )
    refused(
      state,
      { type: 'setPool', patch: { fqdn: 'pool01.corp.example.com', site: 'x' } as never },
      'rule_violation',
      'site',
      /cannot move/,
    )
    refused(
      state,
      { type: 'setPool', patch: { fqdn: 'pool01.corp.example.com', aliases: ['pool02.corp.example.com'] } },
      'conflict',
      'aliases.0',
      /already a name/,
    )
  })
  test('remove: a pool with servers is refused unless forced', () => {
    refused(
      base(),
      { type: 'removePool', fqdn: 'pool01.corp.example.com' },
      'rule_violation',
      'fqdn',
      /still has 1 server/,
    )
    assert.deepEqual(
      decide(base(), { type: 'removePool', fqdn: 'pool01.corp.example.com', force: true }).map((e) => e.type),
      ['ServerRemovedFromSite', 'PoolRemoved'],
    )
  })
})

describe('servers', () => {
  test('add: ServerAddedToSite with the pool and its site, lower-case', () => {
    assert.deepEqual(decide(given(site(), pool()), server('WEB1.corp.example.com')), [
      {
        type: 'ServerAddedToSite',
        server: 'web1.corp.example.com',
        pool: 'pool01.corp.example.com',
        site: 'Redmond',
        backend: 'keytab',
      },
    ])
  })
  test('add: the backend defaults to iis', () => {
    const [e] = decide(given(site(), pool()), {
      type: 'addServer',
      server: { fqdn: 'w.corp.example.com', pool: 'pool01.corp.example.com' },
    })
    assert.equal((e as { backend: string }).backend, 'iis')
  })
  test('add: a server is in exactly one pool', () => {
    const state = given(site(), pool(), pool('pool02.corp.example.com'), server())
    refused(
      state,
      server('web1.corp.example.com', 'pool02.corp.example.com'),
      'already_exists',
      'fqdn',
      /exactly one pool/,
    )
  })
  test('add: pool must exist, FQDN must be valid', () => {
    refused(given(site()), server(), 'not_found', 'pool', /does not exist/)
    refused(given(site(), pool()), server('web 1.x.com'), 'rule_violation', 'fqdn', /RFC 1123/)
  })
  test('remove: ServerRemovedFromSite, its enrolment goes too; unknown is not found', () => {
    const enrolled = execute(base(), {
      type: 'enrolAgent',
      server: 'web1.corp.example.com',
      encryptionKey: 'A'.repeat(43),
      enrolledAt: '2026-01-01T00:00:00.000Z',
    }).state
    const { state, events } = execute(enrolled, { type: 'removeServer', fqdn: 'web1.corp.example.com' })
    assert.deepEqual(events, [
      {
        type: 'ServerRemovedFromSite',
        server: 'web1.corp.example.com',
        pool: 'pool01.corp.example.com',
        site: 'Redmond',
      },
    ])
    assert.deepEqual(state.agents, [])
    refused(
      state,
      { type: 'removeServer', fqdn: 'web1.corp.example.com' },
      'not_found',
      'fqdn',
      /does not exist/,
    )
  })
})

describe('assignments', () => {
  test('new: canonical DOMAIN\\NAME', () => {
    assert.deepEqual(decide(given(site()), assign('redmond', 'corp\\kerbauth$')), [
      { type: 'KerberosAccountAssigned', site: 'Redmond', account: 'CORP\\KERBAUTH' },
    ])
  })
  test('new: DOMAIN\\NAME form and name of at most 15 characters', () => {
    refused(given(site()), assign('Redmond', 'KERBAUTH'), 'rule_violation', 'account', /DOMAIN\\NAME/)
    refused(
      given(site()),
      assign('Redmond', 'CORP\\ABCDEFGHIJKLMNOP'),
      'rule_violation',
      'account',
      /at most 15/,
    )
  })
  test('new: at most one account per site', () => {
    refused(base(), assign('Redmond', 'CORP\\OTHER'), 'conflict', 'site', /at most one account/)
  })
  test('new: one account may serve many sites', () => {
    assert.equal(decide(given(site(), site('Dublin'), assign()), assign('Dublin')).length, 1)
  })
  test('new: the site must exist', () => {
    refused(emptyTopology(), assign(), 'not_found', 'site', /does not exist/)
  })
  test('set: replaces with previousAccount; same account is no event; none to replace is not found', () => {
    assert.deepEqual(decide(base(), { type: 'setAssignment', site: 'Redmond', account: 'CORP\\NEW' }), [
      {
        type: 'KerberosAccountAssigned',
        site: 'Redmond',
        account: 'CORP\\NEW',
        previousAccount: 'CORP\\KERBAUTH',
      },
    ])
    assert.deepEqual(
      decide(base(), { type: 'setAssignment', site: 'Redmond', account: 'corp\\kerbauth' }),
      [],
    )
    refused(
      given(site()),
      { type: 'setAssignment', site: 'Redmond', account: 'CORP\\X' },
      'not_found',
      'site',
      /no Kerberos account/,
    )
    refused(
      base(),
      { type: 'setAssignment', site: 'Redmond', account: 'bad' },
      'rule_violation',
      'account',
      /DOMAIN/,
    )
  })
  test('remove: KerberosAccountUnassigned; none is not found', () => {
    assert.deepEqual(decide(base(), { type: 'removeAssignment', site: 'Redmond' }), [
      { type: 'KerberosAccountUnassigned', site: 'Redmond', account: 'CORP\\KERBAUTH' },
    ])
    refused(
      given(site()),
      { type: 'removeAssignment', site: 'Redmond' },
      'not_found',
      'site',
      /no Kerberos account/,
    )
  })
})

describe('agent enrolment', () => {
  const enrol = (key = 'A'.repeat(43)): TopologyCommand => ({
    type: 'enrolAgent',
    server: 'WEB1.corp.example.com',
    encryptionKey: key,
    enrolledAt: '2026-01-01T00:00:00.000Z',
  })
  test('enrol: AgentEnrolled; the same key again is no event; a new key re-enrols', () => {
    const { state, events } = execute(base(), enrol())
    assert.equal(events[0]?.type, 'AgentEnrolled')
    assert.equal(state.agents[0]?.server, 'web1.corp.example.com')
    assert.deepEqual(decide(state, enrol()), [])
    assert.equal(decide(state, enrol('B'.repeat(43))).length, 1)
  })
  test('enrol: unknown server and a malformed key are refused', () => {
    refused(given(site()), enrol(), 'not_found', 'server', /does not exist/)
    refused(base(), enrol('!'.repeat(43)), 'rule_violation', 'encryptionKey', /X25519/)
  })
})

describe('declarative apply', () => {
  const doc = {
    sites: [{ name: 'Redmond' }, { name: 'Dublin' }],
    pools: [
      { fqdn: 'pool01.corp.example.com', site: 'Redmond' },
      { fqdn: 'pool02.corp.example.com', site: 'Dublin', aliases: ['www.corp.example.com'] },
    ],
    servers: [
      { fqdn: 'web1.corp.example.com', pool: 'pool01.corp.example.com', backend: 'iis' as const },
      { fqdn: 'web2.corp.example.com', pool: 'pool02.corp.example.com', backend: 'keytab' as const },
    ],
    assignments: [{ site: 'Redmond', account: 'CORP\\KERBAUTH' }],
  }
  test('apply builds the document from empty, outermost first', () => {
    const { state, events } = execute(emptyTopology(), { type: 'applyDocument', document: doc })
    assert.deepEqual(
      events.map((e) => e.type),
      [
        'SiteAdded',
        'SiteAdded',
        'PoolAdded',
        'PoolAdded',
        'ServerAddedToSite',
        'ServerAddedToSite',
        'KerberosAccountAssigned',
      ],
    )
    assert.equal(state.pools.length, 2)
    assert.deepEqual(
      decide(state, { type: 'applyDocument', document: doc }),
      [],
      'applying again changes nothing',
    )
  })
  test('apply removes what the document leaves out, innermost first', () => {
    const state = execute(emptyTopology(), { type: 'applyDocument', document: doc }).state
    const events = decide(state, {
      type: 'applyDocument',
      document: { sites: [{ name: 'redmond' }], pools: [doc.pools[0]!] },
    })
    assert.deepEqual(
      events.map((e) => e.type),
      [
        'KerberosAccountUnassigned',
        'ServerRemovedFromSite',
        'ServerRemovedFromSite',
        'PoolRemoved',
        'SiteRemoved',
      ],
    )
  })
  test('apply: every rule holds inside the document, errors name the place', () => {
    refused(
      emptyTopology(),
      { type: 'applyDocument', document: { sites: [{ name: 'A' }, { name: 'a' }] } },
      'already_exists',
      'sites.1.name',
      /already exists/,
    )
    refused(
      emptyTopology(),
      {
        type: 'applyDocument',
        document: {
          ...doc,
          servers: [...doc.servers, { fqdn: 'web1.corp.example.com', pool: 'pool02.corp.example.com' }],
        },
      },
      'already_exists',
      'servers.2.fqdn',
      /exactly one pool/,
    )
    refused(
      emptyTopology(),
      { type: 'applyDocument', document: { ...doc, assignments: [{ site: 'Nowhere', account: 'CORP\\X' }] } },
      'not_found',
      'assignments.0.site',
      /does not exist/,
    )
    refused(
      emptyTopology(),
      {
        type: 'applyDocument',
        document: { ...doc, assignments: [...doc.assignments, { site: 'Redmond', account: 'CORP\\Y' }] },
      },
      'conflict',
      'assignments.1.site',
      /at most one/,
    )
  })
  test('diffTopology names what changed', () => {
    const a = execute(emptyTopology(), { type: 'applyDocument', document: doc }).state
    const b = execute(a, {
      type: 'setPool',
      patch: { fqdn: 'pool01.corp.example.com', shortNameSpns: true },
    }).state
    assert.deepEqual(diffTopology(a, b).poolsChanged, ['pool01.corp.example.com'])
    assert.deepEqual(diffTopology(emptyTopology(), a).sitesAdded, ['Dublin', 'Redmond'])
  })
})

describe('properties', () => {
  const names = ['a', 'b', 'c']
  const fqdn = fc.constantFrom(...names.map((n) => `${n}.corp.example.com`), 'bad_name', 'x.corp.example.com')
  const command: fc.Arbitrary<TopologyCommand> = fc.oneof(
    fc
      .record({ name: fc.constantFrom(...names, 'A'), ntlmOnly: fc.boolean() })
      .map((c) => ({ type: 'addSite' as const, ...c })),
    fc
      .record({ name: fc.constantFrom(...names), ntlmOnly: fc.boolean() })
      .map((c) => ({ type: 'setSite' as const, ...c })),
    fc
      .record({ name: fc.constantFrom(...names), force: fc.boolean() })
      .map((c) => ({ type: 'removeSite' as const, ...c })),
    fc
      .record({ fqdn, site: fc.constantFrom(...names), aliases: fc.array(fqdn, { maxLength: 2 }) })
      .map((pool) => ({ type: 'addPool' as const, pool })),
    fc.record({ fqdn, force: fc.boolean() }).map((c) => ({ type: 'removePool' as const, ...c })),
    fc.record({ fqdn, pool: fqdn }).map((server) => ({ type: 'addServer' as const, server })),
    fqdn.map((f) => ({ type: 'removeServer' as const, fqdn: f })),
    fc
      .record({ site: fc.constantFrom(...names), account: fc.constantFrom('CORP\\K1', 'CORP\\K2', 'bad') })
      .map((c) => ({ type: 'newAssignment' as const, ...c })),
    fc
      .record({ site: fc.constantFrom(...names), account: fc.constantFrom('CORP\\K1', 'CORP\\K2') })
      .map((c) => ({ type: 'setAssignment' as const, ...c })),
    fc.constantFrom(...names).map((site) => ({ type: 'removeAssignment' as const, site })),
    fc
      .record(
        { fqdn, aliases: fc.array(fqdn, { maxLength: 2 }), shortNameSpns: fc.boolean() },
        { requiredKeys: ['fqdn'] },
      )
      .map((patch) => ({ type: 'setPool' as const, patch })),
    fc.record({ server: fqdn, key: fc.constantFrom('A', 'B') }).map((c) => ({
      type: 'enrolAgent' as const,
      server: c.server,
      encryptionKey: c.key.repeat(43),
      enrolledAt: '2026-01-01T00:00:00.000Z',
    })),
  )
  function invariants(t: TopologyDocument) {
    const sites = new Set(t.sites.map((s) => s.name))
    const pools = new Set(t.pools.map((p) => p.fqdn))
    assert.equal(sites.size, t.sites.length, 'unique sites')
    assert.equal(pools.size, t.pools.length, 'unique pools')
    assert.equal(new Set(t.servers.map((s) => s.fqdn)).size, t.servers.length, 'a server in exactly one pool')
    for (const p of t.pools) assert.ok(sites.has(p.site), 'a pool in an existing site')
    for (const s of t.servers) assert.ok(pools.has(s.pool), 'a server in an existing pool')
    for (const a of t.assignments) assert.ok(sites.has(a.site), 'an assignment of an existing site')
    assert.equal(new Set(t.assignments.map((a) => a.site)).size, t.assignments.length, 'one account per site')
    const marked = new Set(t.sites.filter((s) => s.ntlmOnly).map((s) => s.name))
    for (const a of t.assignments) assert.ok(!marked.has(a.site), 'no account on a site marked NTLM only')
  }
  test('any sequence of commands keeps every rule; a refused command changes nothing', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 30 }), (commands) => {
        let state = emptyTopology()
        for (const c of commands) {
          try {
            state = execute(state, c).state
          } catch (err) {
            assert.ok(err instanceof KrbfleetError, String(err))
          }
          invariants(state)
        }
      }),
      { numRuns: 300 },
    )
  })
  test('a command publishes exactly eventsBetween(before, after): events are a function of the two drafts', () => {
    const key = (events: TopologyEvent[]) => events.map((e) => JSON.stringify(e)).sort()
    fc.assert(
      fc.property(fc.array(command, { maxLength: 25 }), (commands) => {
        let state = emptyTopology()
        for (const c of commands) {
          let result: ReturnType<typeof execute>
          try {
            result = execute(state, c)
          } catch {
            continue
          }
          assert.deepEqual(key(eventsBetween(state, result.state)), key(result.events), c.type)
          state = result.state
        }
      }),
      { numRuns: 300 },
    )
  })
  test('eventsBetween(a, b) replayed on a gives b, and diff(a, b) is empty exactly when a equals b', () => {
    const topology = fc.array(command, { maxLength: 25 }).map((commands) =>
      commands.reduce((state, c) => {
        try {
          return execute(state, c).state
        } catch {
          return state
        }
      }, emptyTopology()),
    )
    fc.assert(
      fc.property(topology, topology, (a, b) => {
        const replayed = eventsBetween(a, b).reduce(evolve, a)
        assert.deepEqual(replayed, b)
        const empty = Object.values(diffTopology(a, b)).every((x) => x.length === 0)
        assert.equal(empty, JSON.stringify(a) === JSON.stringify(b))
      }),
      { numRuns: 300 },
    )
  })
})
