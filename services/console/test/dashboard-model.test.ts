import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AccountView, AgentRow, RotationView, TopologyDocument } from '@krbfleet/contracts'
import {
  accountCards,
  age,
  eventLine,
  rotationProgress,
  type Snapshot,
  siteTree,
} from '../dashboard/model.ts'
import { SseParser } from '../dashboard/sse.ts'

const now = Date.parse('2026-12-04T12:00:00Z')
const at = (msAgo: number) => new Date(now - msAgo).toISOString()
const ACCOUNT = 'CORP\\KERBAUTH'

const topology: TopologyDocument = {
  sites: [{ name: 'Redmond' }, { name: 'dublin' }, { name: 'lab', ntlmOnly: true }],
  pools: [
    { fqdn: 'web.redmond.corp', site: 'Redmond', webServices: true, loadBalancerNames: [], aliases: [] },
    { fqdn: 'web.dublin.corp', site: 'dublin', webServices: true, loadBalancerNames: [], aliases: [] },
  ],
  servers: [
    { fqdn: 'fe2.redmond.corp', pool: 'web.redmond.corp', backend: 'keytab' },
    { fqdn: 'fe1.redmond.corp', pool: 'web.redmond.corp', backend: 'iis' },
    { fqdn: 'fe3.redmond.corp', pool: 'web.redmond.corp', backend: 'keytab' },
    { fqdn: 'fe4.redmond.corp', pool: 'web.redmond.corp', backend: 'keytab' },
    { fqdn: 'fe5.redmond.corp', pool: 'web.redmond.corp', backend: 'keytab' },
    { fqdn: 'fe1.dublin.corp', pool: 'web.dublin.corp', backend: 'keytab' },
  ],
  assignments: [{ site: 'Redmond', account: ACCOUNT }],
  agents: [],
} as unknown as TopologyDocument

const agent = (server: string, over: Partial<AgentRow>): AgentRow =>
  ({
    server,
    pool: 'web.redmond.corp',
    site: 'Redmond',
    backend: 'keytab',
    enrolled: true,
    enrolledAt: at(3_600_000),
    account: ACCOUNT,
    lastHeartbeat: at(5_000),
    kvnos: [{ account: ACCOUNT, kvno: 4 }],
    health: { ok: true },
    lastApplied: { at: at(60_000), account: ACCOUNT, kvno: 4 },
    lastFailure: null,
    adKvno: 4,
    current: true,
    ...over,
  }) as AgentRow

const snapshot = (over: Partial<Snapshot> = {}): Snapshot => ({
  topology,
  agents: [
    agent('fe1.redmond.corp', { backend: 'iis' }),
    agent('fe2.redmond.corp', { kvnos: [{ account: ACCOUNT, kvno: 3 }], current: false }),
    agent('fe3.redmond.corp', { lastHeartbeat: at(120_000) }),
    agent('fe4.redmond.corp', {
      current: false,
      kvnos: [{ account: ACCOUNT, kvno: 3 }],
      lastFailure: { at: at(1_000), account: ACCOUNT, kvno: 4, reason: 'keytab folder not writable' },
    }),
    agent('fe5.redmond.corp', { enrolled: false, lastHeartbeat: null }),
    agent('fe1.dublin.corp', { site: 'dublin', account: null, kvnos: [] }),
  ],
  accounts: [],
  duplicates: [],
  now,
  ...over,
})

test('given a fleet, when drawn as a tree, then sites, pools and servers are sorted and each server has its state', () => {
  const sites = siteTree(snapshot())
  assert.deepEqual(
    sites.map((s) => [s.name, s.account, s.ntlmOnly]),
    [
      ['dublin', null, false],
      ['lab', null, true],
      ['Redmond', ACCOUNT, false],
    ],
  )
  const redmond = sites[2]!
  assert.deepEqual(
    redmond.pools[0]!.servers.map((s) => [s.fqdn, s.state, s.held, s.lastSeen]),
    [
      ['fe1.redmond.corp', 'current', [4], '5 s ago'],
      ['fe2.redmond.corp', 'behind', [3], '5 s ago'],
      ['fe3.redmond.corp', 'offline', [4], '2 min ago'],
      ['fe4.redmond.corp', 'failed', [3], '5 s ago'],
      ['fe5.redmond.corp', 'not enrolled', [4], 'never'],
    ],
  )
  assert.equal(redmond.pools[0]!.servers[3]!.detail, 'keytab folder not writable', 'a failure says why')
  assert.deepEqual(redmond.counts, { current: 1, behind: 1, offline: 1, failed: 1, 'not enrolled': 1 })
  assert.deepEqual(
    sites[0]!.pools[0]!.servers.map((s) => s.state),
    ['no account'],
    'a site without an account',
  )
  assert.deepEqual(sites[1]!.pools, [], 'a site without pools')
})

test('given an agent whose failure came before its last apply, then it is only behind', () => {
  const [row] = [
    agent('fe2.redmond.corp', {
      current: false,
      lastFailure: { at: at(120_000), reason: 'old' },
      lastApplied: { at: at(60_000), account: ACCOUNT, kvno: 3 },
    }),
  ]
  const servers = siteTree(snapshot({ agents: [row!] }))[2]!.pools[0]!.servers
  assert.equal(servers.find((s) => s.fqdn === 'fe2.redmond.corp')!.state, 'behind')
})

test('given accounts, when listed, then password age, AES-only and assigned sites are worked out', () => {
  const view = (over: Partial<AccountView>): AccountView =>
    ({
      account: ACCOUNT,
      kvno: 4,
      passwordLastSet: at(3 * 86_400_000 + 3_600_000),
      servicePrincipalNames: ['HTTP/web.redmond.corp', 'HTTP/a.redmond.corp'],
      encryptionTypeNames: ['aes128-cts-hmac-sha1-96', 'aes256-cts-hmac-sha1-96'],
      managed: true,
      nextRotation: at(-86_400_000),
      ...over,
    }) as AccountView
  const cards = accountCards(
    snapshot({
      accounts: [
        view({}),
        view({ account: 'CORP\\LEGACY', encryptionTypeNames: ['rc4-hmac', 'aes256-cts-hmac-sha1-96'] }),
        view({ account: 'CORP\\BARE', encryptionTypeNames: [], passwordLastSet: null, managed: false }),
      ],
    }),
  )
  assert.deepEqual(
    cards.map((c) => [c.account, c.passwordAgeDays, c.aesOnly, c.sites, c.encryption]),
    [
      ['CORP\\BARE', null, false, [], 'not set'],
      ['CORP\\KERBAUTH', 3, true, ['Redmond'], 'aes128-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96'],
      ['CORP\\LEGACY', 3, false, [], 'rc4-hmac, aes256-cts-hmac-sha1-96'],
    ],
  )
  assert.deepEqual(cards[1]!.spns, ['HTTP/a.redmond.corp', 'HTTP/web.redmond.corp'])
})

const rotation = (
  state: RotationView['state'],
  targets: Array<Partial<RotationView['targets'][number]>>,
): RotationView =>
  ({
    rotationId: 'r1',
    account: ACCOUNT,
    state,
    dryRun: false,
    actor: 'token:admin',
    startedAt: at(1000),
    updatedAt: at(0),
    finishedAt: null,
    previousKvno: 4,
    kvno: 5,
    targets: targets.map((t, i) => ({
      server: `fe${i}`,
      site: 'Redmond',
      pool: 'web',
      online: true,
      staged: false,
      applied: false,
      ...t,
    })),
  }) as RotationView

test('given a rotation, when its progress is worked out, then staging fills the first half and activation the second', () => {
  const staging = rotationProgress(rotation('staging', [{ staged: true }, {}, {}, { online: false }]))
  assert.deepEqual(
    [staging.percent, staging.label, staging.finished],
    [13, 'staging: 1/4 staged, 1 offline', false],
  )
  const activating = rotationProgress(
    rotation('activating', [
      { staged: true, applied: true },
      { staged: true },
      { staged: true },
      { staged: true },
    ]),
  )
  assert.deepEqual([activating.percent, activating.label], [63, 'activating: 1/4 applied'])
  const done = rotationProgress(rotation('done', [{ applied: true }, { applied: true, staged: true }]))
  assert.deepEqual([done.percent, done.label, done.finished], [100, 'done: 2/2 applied', true])
  const failed = rotationProgress(rotation('aborted', [{ failure: 'disk full' }]))
  assert.deepEqual([failed.percent, failed.label, failed.failed], [100, 'aborted: 0/1 applied, 1 failed', 1])
})

test('given events, when written as lines, then the main fields show and rotation reports name their rotation', () => {
  const base = {
    id: 'e',
    occurredAt: '2026-12-04T11:59:58.123Z',
    actor: 'service:account',
    causationId: null,
  }
  const started = eventLine({
    ...base,
    seq: 7,
    type: 'krbfleet.account.PasswordRotationStarted.v1',
    correlationId: 'req-1',
    data: { rotationId: 'r1', account: ACCOUNT, targets: ['fe1'] },
  })
  assert.deepEqual(started, {
    seq: 7,
    time: '11:59:58',
    name: 'PasswordRotationStarted',
    text: `account ${ACCOUNT}`,
    rotationId: 'r1',
  })
  const staged = eventLine({
    ...base,
    seq: 8,
    type: 'krbfleet.agent.CredentialStaged.v1',
    correlationId: 'r1',
    data: { server: 'fe1', account: ACCOUNT, kvno: 5 },
  })
  assert.deepEqual([staged.text, staged.rotationId], [`account ${ACCOUNT} · server fe1 · kvno 5`, 'r1'])
  const pool = eventLine({
    ...base,
    seq: 9,
    type: 'krbfleet.topology.PoolAdded.v1',
    correlationId: 'req-2',
    data: { pool: { fqdn: 'web.corp', site: 'lab' } },
  })
  assert.deepEqual([pool.text, pool.rotationId], ['pool web.corp', undefined])
})

test('given durations, when shown as ages, then the unit grows with them', () => {
  assert.deepEqual(
    [age(-5), age(59_400), age(61_000), age(7_200_000), age(3 * 86_400_000)],
    ['0 s ago', '59 s ago', '1 min ago', '2 h ago', '3 d ago'],
  )
})

test('given a stream cut anywhere, when parsed, then the same events come out, with ids, names and multi-line data', () => {
  const text =
    'retry: 2000\n: next 5\n\nid: 5\nevent: PoolAdded\ndata: {"a":1}\n\n: keep-alive\n\nid: 6\r\nevent: X\r\ndata: one\r\ndata:two\r\n\r\ndata: no id\n\n'
  const expected = [
    { id: '5', event: 'PoolAdded', data: '{"a":1}' },
    { id: '6', event: 'X', data: 'one\ntwo' },
    { id: '6', event: 'message', data: 'no id' },
  ]
  for (const size of [1, 2, 3, 7, text.length]) {
    const parser = new SseParser()
    const out = []
    for (let i = 0; i < text.length; i += size) out.push(...parser.push(text.slice(i, i + size)))
    // A \r\n split between two chunks is still one line break.
    assert.deepEqual(out, expected, `chunks of ${size}`)
    assert.equal(parser.retryMs, 2000)
  }
})
