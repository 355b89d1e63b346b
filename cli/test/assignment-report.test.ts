import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AgentRow } from '@krbfleet/contracts'
import { assignmentHtml, assignmentReport, type ProbeResult } from '../src/diagnostics/assignment.ts'

const row = (server: string, patch: Partial<AgentRow & { adKvno: number | null }> = {}) => ({
  server,
  pool: 'web.paris.corp',
  site: 'paris',
  backend: 'keytab' as const,
  enrolled: true,
  enrolledAt: '2026-01-01T00:00:00Z',
  account: 'CORP\\WEB',
  lastHeartbeat: '2026-01-01T00:00:00Z',
  kvnos: [{ account: 'CORP\\WEB', kvno: 5 }],
  health: { ok: true },
  lastApplied: null,
  lastFailure: null,
  adKvno: 5,
  ...patch,
})
const ok = (server: string): [string, ProbeResult] => [
  server,
  { url: `http://web.paris.corp:80/ at ${server}`, status: 200 },
]
const facts = {
  site: 'paris',
  account: 'CORP\\WEB',
  probeIdentity: 'probe@CORP.EXAMPLE (keytab /etc/krbfleet/probe.keytab)',
  accountTest: {
    account: 'CORP\\WEB',
    outcome: 'pass' as const,
    checks: [{ check: 'exists', status: 'pass' as const, detail: 'in AD' }],
  },
  conflicts: [],
  agents: [row('fe01.paris.corp'), row('fe02.paris.corp')],
  probes: new Map([ok('fe01.paris.corp'), ok('fe02.paris.corp')]),
}

describe('assignmentReport (Test-CsKerberosAccountAssignment)', () => {
  it('given an assigned site whose servers hold AD kvno and answer 200, then it passes', () => {
    const report = assignmentReport(facts)
    assert.equal(report.outcome, 'pass')
    assert.deepEqual(
      report.checks.map((c) => [c.check, c.status]),
      [
        ['assignment', 'pass'],
        ['exists', 'pass'],
        ['spn-conflicts', 'pass'],
      ],
    )
    assert.deepEqual(report.servers[0], {
      server: 'fe01.paris.corp',
      pool: 'web.paris.corp',
      status: 'pass',
      agent: "holds AD's kvno 5",
      probe: '200 from http://web.paris.corp:80/ at fe01.paris.corp',
    })
  })

  it('given a server behind AD, one that answers 401 and an SPN on another object, then each is named and it fails', () => {
    const report = assignmentReport({
      ...facts,
      conflicts: [{ spn: 'HTTP/web.paris.corp', holder: 'CN=OLD,CN=Computers,DC=corp' }],
      agents: [
        row('fe01.paris.corp', { kvnos: [{ account: 'CORP\\WEB', kvno: 4 }] }),
        row('fe02.paris.corp'),
      ],
      probes: new Map([
        ['fe01.paris.corp', { url: 'http://web.paris.corp:80/ at fe01.paris.corp', status: 401 }],
        ok('fe02.paris.corp'),
      ]),
    })
    assert.equal(report.outcome, 'fail')
    assert.deepEqual(report.checks.at(-1), {
      check: 'spn-conflicts',
      status: 'fail',
      detail: 'HTTP/web.paris.corp also on CN=OLD,CN=Computers,DC=corp',
    })
    assert.deepEqual(
      report.servers.map((s) => [s.server, s.status, s.agent, s.probe]),
      [
        [
          'fe01.paris.corp',
          'fail',
          'InvalidKerberosConfiguration: holds 4, AD has kvno 5',
          '401 from http://web.paris.corp:80/ at fe01.paris.corp',
        ],
        [
          'fe02.paris.corp',
          'pass',
          "holds AD's kvno 5",
          '200 from http://web.paris.corp:80/ at fe02.paris.corp',
        ],
      ],
    )
  })

  it('given no assignment, no agent, or no probe, then it says so', () => {
    const unassigned = assignmentReport({
      ...facts,
      account: null,
      accountTest: null,
      agents: [],
      probes: new Map(),
    })
    assert.equal(unassigned.outcome, 'fail')
    assert.deepEqual(
      unassigned.checks.map((c) => [c.check, c.status, c.detail]),
      [
        ['assignment', 'fail', 'site paris has no Kerberos account assigned'],
        ['servers', 'warn', 'site paris has no servers'],
      ],
    )
    const report = assignmentReport({
      ...facts,
      agents: [row('fe01.paris.corp', { enrolled: false, kvnos: [] })],
      probes: new Map([
        [
          'fe01.paris.corp',
          { url: 'http://web.paris.corp:80/ at fe01', status: null, detail: 'connection refused' },
        ],
      ]),
    })
    assert.deepEqual(
      [report.servers[0]!.agent, report.servers[0]!.probe],
      [
        'no agent enrolled (krbfleet agent token)',
        'no answer from http://web.paris.corp:80/ at fe01 (connection refused)',
      ],
    )
    const unprobed = assignmentReport({ ...facts, probes: new Map() })
    assert.equal(unprobed.outcome, 'unknown')
    assert.equal(unprobed.servers[0]!.probe, 'not probed')
  })
})

describe('assignmentHtml', () => {
  it('is one page with the outcome, a row per check and per server coloured by status, every value escaped', () => {
    const report = assignmentReport({
      ...facts,
      conflicts: [{ spn: 'HTTP/<script>', holder: 'CN="x"&y' }],
    })
    const page = assignmentHtml(report, new Date('2026-12-04T00:00:00Z'))
    assert.match(page, /^<!doctype html>/)
    assert.match(page, /<h1>Site paris: <span class="outcome fail">fail<\/span><\/h1>/)
    assert.match(
      page,
      /<tr class="fail"><td>spn-conflicts<\/td><td>fail<\/td><td>HTTP\/&lt;script&gt; also on CN=&quot;x&quot;&amp;y<\/td><\/tr>/,
    )
    assert.match(page, /<tr class="pass"><td>fe02\.paris\.corp<\/td><td>web\.paris\.corp<\/td><td>pass<\/td>/)
    assert.ok(!page.includes('<script>'), 'nothing unescaped')
    assert.match(page, /Tested 2026-12-04T00:00:00\.000Z/)
    assert.match(page, /probed as probe@CORP\.EXAMPLE \(keytab \/etc\/krbfleet\/probe\.keytab\)/)
  })
})
