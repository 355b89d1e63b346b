import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AccountView, BusHealth, ConsumerHealth } from '@krbfleet/contracts'
import { busCheck, topologyReport } from '../src/diagnostics/topology.ts'

const now = new Date('2026-12-04T12:00:00Z')
const agent = (server: string, patch: Record<string, unknown> = {}) => ({
  server,
  pool: 'web.paris.corp',
  site: 'paris',
  backend: 'keytab' as const,
  enrolled: true,
  enrolledAt: '2026-12-01T00:00:00Z',
  account: 'CORP\\WEB',
  lastHeartbeat: '2026-12-04T11:59:30Z',
  kvnos: [{ account: 'CORP\\WEB', kvno: 5 }],
  health: { ok: true },
  lastApplied: null,
  lastFailure: null,
  current: true,
  ...patch,
})
const account = (name: string, encryptionTypes: number | null): AccountView => ({
  account: name,
  dn: `CN=${name},CN=Computers,DC=corp`,
  samAccountName: `${name}$`,
  dnsHostName: null,
  description: null,
  userAccountControl: 4096,
  encryptionTypes,
  encryptionTypeNames: [],
  kvno: 5,
  passwordLastSet: null,
  servicePrincipalNames: [],
  existsInDirectory: true,
  managed: true,
  adopted: false,
  secretKvno: 5,
})
const consumer = (durable: string, patch: Partial<ConsumerHealth> = {}): ConsumerHealth => ({
  stream: 'KRBFLEET_EVENTS',
  durable,
  pending: 0,
  ackPending: 0,
  maxAckPending: 1000,
  redelivered: 0,
  lastActive: '2026-12-04T11:59:59.000Z',
  ...patch,
})
const bus = (
  patch: Partial<BusHealth['streams'][number]> = {},
  consumers = [consumer('spn-sync-enabled')],
): BusHealth => ({
  streams: [
    {
      name: 'KRBFLEET_EVENTS',
      messages: 120,
      bytes: 50_000,
      firstSeq: 1,
      lastSeq: 120,
      maxBytes: 1_000_000,
      maxMessages: -1,
      consumers: consumers.length,
      ...patch,
    },
  ],
  consumers,
})
const healthy = {
  sites: [
    { name: 'paris', pools: 1, servers: 2, account: 'CORP\\WEB' },
    { name: 'empty', pools: 0, servers: 0 },
  ],
  duplicates: [],
  agents: [agent('fe01.paris.corp'), agent('fe02.paris.corp')],
  accounts: [account('CORP\\WEB', 24)],
  bus: bus(),
  now,
}

describe('topologyReport (Test-CsTopology)', () => {
  it('given assigned sites, no duplicates, live agents at AD kvno and AES-only accounts, then it passes', () => {
    const report = topologyReport(healthy)
    assert.equal(report.outcome, 'pass')
    assert.deepEqual(
      report.checks.map((c) => [c.check, c.status]),
      [
        ['assignments', 'pass'],
        ['spn-duplicates', 'pass'],
        ['agents', 'pass'],
        ['bus', 'pass'],
        ['rc4-readiness', 'pass'],
      ],
    )
  })

  it('given a site with pools marked NTLM only on purpose, then assignments passes and names it', () => {
    const report = topologyReport({
      ...healthy,
      sites: [...healthy.sites, { name: 'bergen', pools: 2, servers: 0, ntlmOnly: true }],
    })
    assert.equal(report.outcome, 'pass')
    assert.deepEqual(report.checks[0], {
      check: 'assignments',
      status: 'pass',
      detail: 'every site with pools has a Kerberos account; marked NTLM only on purpose: bergen',
    })
  })

  it('given an unassigned site with pools, a duplicate SPN, agents missing, silent or behind and RC4 or unset accounts, then each is named', () => {
    const report = topologyReport({
      ...healthy,
      sites: [
        ...healthy.sites,
        { name: 'oslo', pools: 1, servers: 1 },
        { name: 'bergen', pools: 1, servers: 0, ntlmOnly: true },
      ],
      duplicates: [
        {
          spn: 'HTTP/web.paris.corp',
          holders: [
            { dn: 'CN=A', samAccountName: 'A$', spn: 'HTTP/web.paris.corp' },
            { dn: 'CN=B', samAccountName: 'B$', spn: 'http/web.paris.corp' },
          ],
        },
      ],
      agents: [
        agent('fe01.paris.corp', { current: false }),
        agent('fe02.paris.corp', { lastHeartbeat: '2026-12-04T11:50:00Z' }),
        agent('fe01.oslo.corp', { enrolled: false, account: null, lastHeartbeat: null, current: false }),
      ],
      accounts: [
        account('CORP\\WEB', 28),
        account('CORP\\OLD', null),
        { ...account('CORP\\FOREIGN', 4), managed: false },
        { ...account('CORP\\ADOPTABLE', null), managed: false },
      ],
    })
    assert.equal(report.outcome, 'fail')
    assert.deepEqual(
      report.checks.map((c) => [c.check, c.status, c.detail]),
      [
        [
          'assignments',
          'fail',
          'sites with pools and no Kerberos account (they fall back to NTLM): oslo; marked NTLM only on purpose: bergen',
        ],
        ['spn-duplicates', 'fail', 'HTTP/web.paris.corp on 2 objects'],
        [
          'agents',
          'fail',
          "no agent enrolled: fe01.oslo.corp; no heartbeat for 180 s: fe02.paris.corp; behind AD's kvno: fe01.paris.corp",
        ],
        ['bus', 'pass', 'KRBFLEET_EVENTS 120 events; spn-sync-enabled lag 0/0 unacked'],
        [
          'rc4-readiness',
          'fail',
          'no msDS-SupportedEncryptionTypes: CORP\\OLD, CORP\\ADOPTABLE; RC4 allowed: CORP\\WEB',
        ],
      ],
    )
  })

  it('given a stream near its limit, a consumer behind and one stalled at its max_ack_pending, then the bus check names each with its lag', () => {
    const lagging = busCheck(
      bus({ bytes: 950_000 }, [
        consumer('agent-status', { pending: 4000 }),
        consumer('spn-sync-enabled', { pending: 10, ackPending: 1000 }),
      ]),
      1000,
    )
    assert.equal(lagging.status, 'fail')
    assert.equal(
      lagging.detail,
      'KRBFLEET_EVENTS at 95 % of its limit; spn-sync-enabled stalled: 1000 unacknowledged (max 1000); agent-status 4000 events behind (more than 1000) -- KRBFLEET_EVENTS 120 events; agent-status lag 4000/0 unacked, spn-sync-enabled lag 10/1000 unacked',
    )
    const behind = busCheck(bus({}, [consumer('agent-status', { pending: 4000 })]), 1000)
    assert.equal(behind.status, 'warn')
    assert.equal(busCheck(bus({}, [consumer('agent-status', { pending: 4000 })]), 5000).status, 'pass')
    assert.match(busCheck(bus({}, []), 1000).detail, /no durable consumer/)
  })
})
