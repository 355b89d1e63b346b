import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AgentStatus, RotationTarget, TopologyDocument } from '@krbfleet/contracts'
import {
  type AgentReport,
  countReport,
  countSilent,
  caughtUp,
  countStatuses,
  describe as describeBehind,
  describe as describeRecord,
  nextStep,
  pendingSites,
  planTargets,
} from '../src/rotation/decide.ts'
import { viewOf } from '../src/rotation/model.ts'
import type { RotationRecord } from '../src/rotation/model.ts'

const key = 'K'.repeat(43)
const t0 = new Date('2026-03-01T00:00:00.000Z')
const at = (ms: number) => new Date(t0.getTime() + ms)
const iso = (ms: number) => at(ms).toISOString()
const onlineWithinMs = 90_000

const pool = (fqdn: string, site: string) => ({
  fqdn,
  site,
  webServices: true,
  loadBalancerNames: [],
  aliases: [],
  shortNameSpns: false,
})
const enrolled = (server: string) => ({ server, encryptionKey: key, enrolledAt: '2026-01-01T00:00:00Z' })

/**
 * dublin and amsterdam assigned to CORP\WEB, paris unassigned, rome assigned to CORP\OTHER. The
 * servers are listed out of order; fe03.dublin has no enrolled agent.
 */
const topology: TopologyDocument = {
  sites: [{ name: 'dublin' }, { name: 'amsterdam' }, { name: 'paris' }, { name: 'rome' }],
  pools: [
    pool('pool.dublin.corp', 'dublin'),
    pool('pool.amsterdam.corp', 'amsterdam'),
    pool('pool.paris.corp', 'paris'),
    pool('pool.rome.corp', 'rome'),
  ],
  servers: [
    { fqdn: 'fe02.dublin.corp', pool: 'pool.dublin.corp', backend: 'iis' },
    { fqdn: 'fe01.paris.corp', pool: 'pool.paris.corp', backend: 'iis' },
    { fqdn: 'fe03.dublin.corp', pool: 'pool.dublin.corp', backend: 'keytab' },
    { fqdn: 'fe02.amsterdam.corp', pool: 'pool.amsterdam.corp', backend: 'iis' },
    { fqdn: 'fe01.rome.corp', pool: 'pool.rome.corp', backend: 'iis' },
    { fqdn: 'fe01.dublin.corp', pool: 'pool.dublin.corp', backend: 'iis' },
    { fqdn: 'fe01.amsterdam.corp', pool: 'pool.amsterdam.corp', backend: 'keytab' },
  ],
  assignments: [
    { site: 'dublin', account: 'CORP\\WEB' },
    { site: 'amsterdam', account: 'CORP\\WEB' },
    { site: 'rome', account: 'CORP\\OTHER' },
  ],
  agents: [
    enrolled('fe01.dublin.corp'),
    enrolled('fe02.dublin.corp'),
    enrolled('fe01.amsterdam.corp'),
    enrolled('fe02.amsterdam.corp'),
    enrolled('fe01.paris.corp'),
    enrolled('fe01.rome.corp'),
  ],
}

/** An agent status whose last heartbeat was at `heartbeatAt` and held `kvnos`. */
function status(
  server: string,
  heartbeatAt: string | undefined,
  patch: Partial<AgentStatus> = {},
  kvnos: { account: string; kvno: number }[] = [],
): AgentStatus {
  return {
    server,
    ...(heartbeatAt === undefined ? {} : { lastHeartbeat: { at: heartbeatAt, backend: 'iis', kvnos } }),
    ...patch,
  }
}

const target = (server: string, patch: Partial<RotationTarget> = {}): RotationTarget => ({
  server,
  site: server.split('.')[1]!,
  pool: `pool.${server.split('.')[1]}.corp`,
  online: true,
  staged: false,
  applied: false,
  ...patch,
})

/** A rotation of CORP\WEB from kvno 4 to 5, started at t0, staging until t0 + 30 s. */
function rotation(patch: Partial<RotationRecord> = {}): RotationRecord {
  return {
    rotationId: 'rot-20260301T000000-0a1b2c3d',
    account: 'CORP\\WEB',
    state: 'staging',
    dryRun: false,
    actor: 'user:alice',
    startedAt: iso(0),
    updatedAt: iso(0),
    finishedAt: null,
    previousKvno: 4,
    kvno: 5,
    targets: [target('fe01.dublin.corp'), target('fe02.dublin.corp'), target('fe01.amsterdam.corp')],
    stageUntil: iso(30_000),
    applyUntil: null,
    ...patch,
  }
}

const report = (patch: Partial<AgentReport> = {}): AgentReport => ({
  kind: 'staged',
  server: 'fe01.dublin.corp',
  account: 'CORP\\WEB',
  kvno: 5,
  ...patch,
})

describe('planTargets', () => {
  const now = at(0)
  const statuses = new Map<string, AgentStatus>([
    ['fe02.dublin.corp', status('fe02.dublin.corp', iso(-10_000))],
    ['fe01.dublin.corp', status('fe01.dublin.corp', iso(-onlineWithinMs - 1))],
    ['fe03.dublin.corp', status('fe03.dublin.corp', iso(-1_000))],
    ['fe02.amsterdam.corp', status('fe02.amsterdam.corp', iso(-onlineWithinMs))],
    ['fe01.paris.corp', status('fe01.paris.corp', iso(-1_000))],
    ['fe01.rome.corp', status('fe01.rome.corp', iso(-1_000))],
  ])

  it('given sites assigned to the account, then every server of them is a target, sorted by site then server, nothing staged', () => {
    assert.deepEqual(planTargets(topology, 'CORP\\WEB', statuses, now, onlineWithinMs), [
      {
        server: 'fe01.amsterdam.corp',
        site: 'amsterdam',
        pool: 'pool.amsterdam.corp',
        online: false,
        staged: false,
        applied: false,
      },
      {
        server: 'fe02.amsterdam.corp',
        site: 'amsterdam',
        pool: 'pool.amsterdam.corp',
        online: true,
        staged: false,
        applied: false,
      },
      {
        server: 'fe01.dublin.corp',
        site: 'dublin',
        pool: 'pool.dublin.corp',
        online: false,
        staged: false,
        applied: false,
      },
      {
        server: 'fe02.dublin.corp',
        site: 'dublin',
        pool: 'pool.dublin.corp',
        online: true,
        staged: false,
        applied: false,
      },
      {
        server: 'fe03.dublin.corp',
        site: 'dublin',
        pool: 'pool.dublin.corp',
        online: false,
        staged: false,
        applied: false,
      },
    ])
  })

  it('given heartbeats at, just inside and just outside the window, no status, or no enrolment, then only enrolled servers beating within onlineWithinMs are online', () => {
    const online = Object.fromEntries(
      planTargets(topology, 'CORP\\WEB', statuses, now, onlineWithinMs).map((t) => [t.server, t.online]),
    )
    assert.deepEqual(online, {
      'fe01.amsterdam.corp': false, // enrolled, no status at all
      'fe02.amsterdam.corp': true, // heartbeat exactly onlineWithinMs old: still online
      'fe01.dublin.corp': false, // heartbeat 1 ms too old
      'fe02.dublin.corp': true, // heartbeat 10 s old
      'fe03.dublin.corp': false, // heartbeat 1 s old, but no enrolled agent
    })
  })

  it('given the account in another case, then the same servers are targets', () => {
    assert.deepEqual(
      planTargets(topology, 'corp\\web', statuses, now, onlineWithinMs),
      planTargets(topology, 'CORP\\WEB', statuses, now, onlineWithinMs),
    )
  })

  it('given another account, then only its own sites are targets: unassigned sites never', () => {
    assert.deepEqual(
      planTargets(topology, 'CORP\\OTHER', statuses, now, onlineWithinMs).map((t) => [t.server, t.online]),
      [['fe01.rome.corp', true]],
    )
    assert.deepEqual(planTargets(topology, 'CORP\\NOBODY', statuses, now, onlineWithinMs), [])
  })

  it('given no topology, then there are no targets', () => {
    assert.deepEqual(planTargets(null, 'CORP\\WEB', statuses, now, onlineWithinMs), [])
  })
})

describe('countReport', () => {
  it('given a staged report of a target, then that target is staged and online, the others untouched and the input unchanged', () => {
    const record = rotation({
      targets: [target('fe01.dublin.corp', { online: false }), target('fe02.dublin.corp')],
    })
    const before = structuredClone(record)
    const next = countReport(record, report())
    assert.ok(next)
    assert.deepEqual(next.targets, [
      target('fe01.dublin.corp', { online: true, staged: true }),
      target('fe02.dublin.corp'),
    ])
    assert.deepEqual({ ...next, targets: [] }, { ...record, targets: [] }, 'nothing but the targets changes')
    assert.deepEqual(record, before, 'the record passed in is not modified')
  })

  it('given a target that failed and then staged on a retry, then it is staged and no longer failed', () => {
    const record = rotation({ targets: [target('fe01.dublin.corp', { failure: 'disk full' })] })
    const next = countReport(record, report())
    assert.deepEqual(next?.targets, [target('fe01.dublin.corp', { online: true, staged: true })])
  })

  it('given a report of another account or another kvno, then it changes nothing', () => {
    assert.equal(countReport(rotation(), report({ account: 'CORP\\OTHER' })), null)
    assert.equal(countReport(rotation(), report({ kvno: 4 })), null)
    assert.equal(countReport(rotation(), report({ kvno: 6 })), null)
    assert.equal(countReport(rotation({ kvno: null }), report()), null)
  })

  it('given the account in another case, then the report is counted', () => {
    const next = countReport(rotation(), report({ account: 'corp\\web' }))
    assert.equal(next?.targets[0]?.staged, true)
  })

  it('given a report of a server that is not a target, then it changes nothing', () => {
    assert.equal(countReport(rotation(), report({ server: 'fe01.paris.corp' })), null)
    assert.equal(countReport(rotation(), report({ server: 'fe01.rome.corp', kind: 'applied' })), null)
  })

  it('given a staged report already counted, then it changes nothing; staged but offline, then it comes online', () => {
    const staged = rotation({ targets: [target('fe01.dublin.corp', { staged: true })] })
    assert.equal(countReport(staged, report()), null)
    const offline = rotation({ targets: [target('fe01.dublin.corp', { staged: true, online: false })] })
    assert.deepEqual(countReport(offline, report())?.targets, [target('fe01.dublin.corp', { staged: true })])
  })

  it('given an applied report of a failed, unstaged, offline target, then it is applied, staged and online and its failure cleared', () => {
    const record = rotation({
      targets: [
        target('fe01.dublin.corp', { online: false, failure: 'disk full' }),
        target('fe02.dublin.corp'),
      ],
    })
    const next = countReport(record, report({ kind: 'applied' }))
    assert.ok(next)
    assert.deepEqual(
      next.targets[0],
      target('fe01.dublin.corp', { online: true, staged: true, applied: true }),
    )
    assert.equal('failure' in next.targets[0]!, false, 'the failure key is gone, not left undefined')
    assert.deepEqual(next.targets[1], target('fe02.dublin.corp'))
  })

  it('given an applied report already counted, then it changes nothing', () => {
    const record = rotation({ targets: [target('fe01.dublin.corp', { staged: true, applied: true })] })
    assert.equal(countReport(record, report({ kind: 'applied' })), null)
  })

  it('given a failed report, then the target records the reason and is online; the same reason again changes nothing', () => {
    const record = rotation({ targets: [target('fe01.dublin.corp', { online: false })] })
    const next = countReport(record, report({ kind: 'failed', reason: 'access denied' }))
    assert.ok(next)
    assert.deepEqual(next.targets, [target('fe01.dublin.corp', { failure: 'access denied' })])
    assert.equal(countReport(next, report({ kind: 'failed', reason: 'access denied' })), null)
    assert.deepEqual(countReport(next, report({ kind: 'failed', reason: 'disk full' }))?.targets, [
      target('fe01.dublin.corp', { failure: 'disk full' }),
    ])
  })

  it('given a failed report without a reason or with a very long one, then the failure reads "failed" or is cut to 1024 characters', () => {
    assert.equal(countReport(rotation(), report({ kind: 'failed' }))?.targets[0]?.failure, 'failed')
    const long = countReport(rotation(), report({ kind: 'failed', reason: 'x'.repeat(5000) }))
    assert.equal(long?.targets[0]?.failure, 'x'.repeat(1024))
  })
})

describe('countStatuses', () => {
  const now = at(5_000)
  const recent = iso(0)

  it('given heartbeats holding the rotation kvno of its account, then those targets are staged; other kvnos or accounts are not', () => {
    const record = rotation()
    const statuses = new Map<string, AgentStatus>([
      ['fe01.dublin.corp', status('fe01.dublin.corp', recent, {}, [{ account: 'CORP\\WEB', kvno: 5 }])],
      [
        'fe02.dublin.corp',
        status('fe02.dublin.corp', recent, {}, [
          { account: 'CORP\\WEB', kvno: 4 },
          { account: 'CORP\\OTHER', kvno: 5 },
        ]),
      ],
      ['fe01.amsterdam.corp', status('fe01.amsterdam.corp', recent, {}, [{ account: 'corp\\web', kvno: 5 }])],
    ])
    const next = countStatuses(record, statuses, now, onlineWithinMs)
    assert.ok(next)
    assert.deepEqual(
      next.targets.map((t) => [t.server, t.staged, t.applied]),
      [
        ['fe01.dublin.corp', true, false],
        ['fe02.dublin.corp', false, false],
        ['fe01.amsterdam.corp', true, false],
      ],
    )
  })

  it('given an install report newer than the heartbeat saying what the server holds, then it counts, not the heartbeat', () => {
    const record = rotation()
    const statuses = new Map<string, AgentStatus>([
      [
        'fe01.dublin.corp',
        status(
          'fe01.dublin.corp',
          recent,
          { held: { at: iso(1_000), kvnos: [{ account: 'CORP\\WEB', kvno: 5 }] } },
          [{ account: 'CORP\\WEB', kvno: 4 }],
        ),
      ],
      [
        'fe02.dublin.corp',
        status(
          'fe02.dublin.corp',
          recent,
          { held: { at: iso(1_000), kvnos: [{ account: 'CORP\\WEB', kvno: 4 }] } },
          [{ account: 'CORP\\WEB', kvno: 5 }],
        ),
      ],
    ])
    assert.deepEqual(
      countStatuses(record, statuses, now, onlineWithinMs)?.targets.map((t) => [t.server, t.staged]),
      [
        ['fe01.dublin.corp', true],
        ['fe02.dublin.corp', false],
        ['fe01.amsterdam.corp', false],
      ],
    )
  })

  it('given a last applied credential of the rotation kvno while staging, then it counts for nothing', () => {
    const statuses = new Map<string, AgentStatus>([
      [
        'fe01.dublin.corp',
        status('fe01.dublin.corp', recent, { lastApplied: { at: recent, account: 'CORP\\WEB', kvno: 5 } }),
      ],
    ])
    assert.equal(countStatuses(rotation(), statuses, now, onlineWithinMs), null)
  })

  it('given a last applied credential of the rotation kvno while activating, then the target is applied and staged', () => {
    const record = rotation({ state: 'activating', applyUntil: iso(60_000) })
    const statuses = new Map<string, AgentStatus>([
      [
        'fe01.dublin.corp',
        status('fe01.dublin.corp', recent, { lastApplied: { at: recent, account: 'corp\\web', kvno: 5 } }),
      ],
      [
        'fe02.dublin.corp',
        status('fe02.dublin.corp', recent, { lastApplied: { at: recent, account: 'CORP\\WEB', kvno: 4 } }),
      ],
      [
        'fe01.amsterdam.corp',
        status('fe01.amsterdam.corp', recent, {
          lastApplied: { at: recent, account: 'CORP\\OTHER', kvno: 5 },
        }),
      ],
    ])
    const next = countStatuses(record, statuses, now, onlineWithinMs)
    assert.ok(next)
    assert.deepEqual(
      next.targets.map((t) => [t.server, t.staged, t.applied]),
      [
        ['fe01.dublin.corp', true, true],
        ['fe02.dublin.corp', false, false],
        ['fe01.amsterdam.corp', false, false],
      ],
    )
  })

  it('given an offline target whose agent beat recently, then it comes online; an online one with an old beat stays online', () => {
    const record = rotation({
      targets: [target('fe01.dublin.corp', { online: false }), target('fe02.dublin.corp')],
    })
    const statuses = new Map<string, AgentStatus>([
      ['fe01.dublin.corp', status('fe01.dublin.corp', recent)],
      ['fe02.dublin.corp', status('fe02.dublin.corp', iso(-3_600_000))],
    ])
    assert.deepEqual(countStatuses(record, statuses, now, onlineWithinMs)?.targets, [
      target('fe01.dublin.corp'),
      target('fe02.dublin.corp'),
    ])
  })

  it('given statuses that say nothing new, then it returns null', () => {
    const record = rotation({
      targets: [target('fe01.dublin.corp', { staged: true }), target('fe02.dublin.corp', { online: false })],
    })
    assert.equal(countStatuses(record, new Map(), now, onlineWithinMs), null)
    const statuses = new Map<string, AgentStatus>([
      ['fe01.dublin.corp', status('fe01.dublin.corp', recent, {}, [{ account: 'CORP\\WEB', kvno: 5 }])],
      ['fe02.dublin.corp', status('fe02.dublin.corp', iso(-onlineWithinMs - 5_001))],
    ])
    assert.equal(countStatuses(record, statuses, now, onlineWithinMs), null)
  })
})

describe('countSilent', () => {
  const now = at(100_000)
  const beat = (server: string, ms: number) => [server, status(server, iso(ms))] as const

  it('given awaited targets whose last heartbeat is older than the window or missing, then they go offline; the others are untouched', () => {
    const record = rotation({
      targets: [
        target('fe01.amsterdam.corp'),
        target('fe01.dublin.corp'),
        target('fe02.dublin.corp'),
        target('fe03.dublin.corp', { staged: true }),
      ],
    })
    const statuses = new Map([beat('fe01.amsterdam.corp', 50_000), beat('fe01.dublin.corp', 9_999)])
    const next = countSilent(record, statuses, now, onlineWithinMs)
    assert.ok(next)
    assert.deepEqual(
      next.targets.map((t) => [t.server, t.online]),
      [
        ['fe01.amsterdam.corp', true],
        ['fe01.dublin.corp', false],
        ['fe02.dublin.corp', false],
        // staged already: not awaited while staging, so its silence changes nothing
        ['fe03.dublin.corp', true],
      ],
    )
    assert.equal(record.targets[1]?.online, true, 'the input is unchanged')
  })

  it('given activating, then a silent staged target that has not applied goes offline, an applied or failed one does not', () => {
    const record = rotation({
      state: 'activating',
      targets: [
        target('fe01.dublin.corp', { staged: true }),
        target('fe02.dublin.corp', { staged: true, applied: true }),
        target('fe03.dublin.corp', { staged: true, failure: 'disk full' }),
      ],
    })
    const next = countSilent(record, new Map([beat('fe02.dublin.corp', 90_000)]), now, onlineWithinMs)
    assert.deepEqual(
      next?.targets.map((t) => t.online),
      [false, true, true],
    )
  })

  it('given no target heard within the window (the heartbeat path down, not the agents), then nobody is judged', () => {
    const record = rotation()
    const stale = new Map(record.targets.map((t) => beat(t.server, 9_000)))
    assert.equal(countSilent(record, stale, now, onlineWithinMs), null)
    assert.equal(countSilent(record, new Map(), now, onlineWithinMs), null)
  })

  it('given every awaited agent beating within the window, then it returns null', () => {
    const record = rotation()
    const statuses = new Map(record.targets.map((t) => beat(t.server, 10_000)))
    assert.equal(countSilent(record, statuses, now, onlineWithinMs), null)
  })

  it('given a site gone silent, then the step no longer waits for it and the view names the site pending', () => {
    const record = rotation({
      targets: [
        target('fe01.amsterdam.corp'),
        target('fe01.dublin.corp', { staged: true }),
        target('fe02.dublin.corp', { staged: true }),
      ],
    })
    assert.equal(nextStep(record, at(1_000)).kind, 'wait')
    const dublinHeard = new Map([beat('fe01.dublin.corp', 500), beat('fe02.dublin.corp', 500)])
    const next = countSilent(record, dublinHeard, at(1_000), onlineWithinMs)
    assert.ok(next)
    assert.deepEqual(nextStep(next, at(1_000)), { kind: 'commit' })
    assert.deepEqual(pendingSites(next), ['amsterdam'])
    assert.deepEqual(viewOf(next).pendingSites, ['amsterdam'])
  })
})

describe('pendingSites', () => {
  it('given offline targets not applied, then their sites, sorted and once each; applied or online ones make no site pending', () => {
    const record = rotation({
      targets: [
        target('fe01.paris.corp', { online: false }),
        target('fe01.dublin.corp', { online: false }),
        target('fe02.dublin.corp', { online: false }),
        target('fe01.amsterdam.corp', { online: false, applied: true, staged: true }),
        target('fe01.rome.corp'),
      ],
    })
    assert.deepEqual(pendingSites(record), ['dublin', 'paris'])
    assert.equal(viewOf(rotation()).pendingSites, undefined, 'no pending site: no field')
  })
})

describe('nextStep', () => {
  describe('staging', () => {
    it('given an online target neither staged nor failed before the deadline, then it waits until the deadline', () => {
      const record = rotation({
        targets: [
          target('fe01.dublin.corp'),
          target('fe02.dublin.corp', { staged: true }),
          target('fe01.amsterdam.corp', { online: false }),
        ],
      })
      assert.deepEqual(nextStep(record, at(10_000)), { kind: 'wait', until: iso(30_000) })
    })

    it('given every online target staged or failed, then it commits before the deadline, offline ones not awaited', () => {
      const record = rotation({
        targets: [
          target('fe01.dublin.corp', { staged: true }),
          target('fe02.dublin.corp', { failure: 'disk full' }),
          target('fe01.amsterdam.corp', { online: false }),
        ],
      })
      assert.deepEqual(nextStep(record, at(1_000)), { kind: 'commit' })
    })

    it('given the deadline reached with an online target still waiting and another staged, then it commits', () => {
      const record = rotation({
        targets: [target('fe01.dublin.corp'), target('fe02.dublin.corp', { staged: true })],
      })
      assert.deepEqual(nextStep(record, at(30_000)), { kind: 'commit' }, 'at the deadline exactly')
      assert.deepEqual(nextStep(record, at(45_000)), { kind: 'commit' })
      assert.equal(nextStep(record, at(29_999)).kind, 'wait')
    })

    it('given online targets of which none staged, all failed, then it aborts naming the failures and the offline servers', () => {
      const record = rotation({
        targets: [
          target('fe01.dublin.corp', { failure: 'disk full' }),
          target('fe02.dublin.corp', { failure: 'access denied' }),
          target('fe01.amsterdam.corp', { online: false }),
        ],
      })
      assert.deepEqual(nextStep(record, at(1_000)), {
        kind: 'abort',
        reason:
          'no agent staged kvno 5: pending sites, offline (they catch up when they return): amsterdam (fe01.amsterdam.corp); failed: fe01.dublin.corp (disk full); fe02.dublin.corp (access denied)',
      })
    })

    it('given online targets that never answered by the deadline, then it aborts: AD must not get a key no server has', () => {
      const record = rotation({ targets: [target('fe01.dublin.corp'), target('fe02.dublin.corp')] })
      assert.equal(nextStep(record, at(10_000)).kind, 'wait')
      assert.deepEqual(nextStep(record, at(30_000)), {
        kind: 'abort',
        reason: 'no agent staged kvno 5: not staged in time: fe01.dublin.corp, fe02.dublin.corp',
      })
    })

    it('given no targets at all, or only offline ones, then it commits at once', () => {
      assert.deepEqual(nextStep(rotation({ targets: [] }), at(0)), { kind: 'commit' })
      const offline = rotation({
        targets: [
          target('fe01.dublin.corp', { online: false }),
          target('fe02.dublin.corp', { online: false }),
        ],
      })
      assert.deepEqual(nextStep(offline, at(0)), { kind: 'commit' })
    })
  })

  describe('activating', () => {
    const activating = (targets: RotationTarget[], patch: Partial<RotationRecord> = {}) =>
      rotation({ state: 'activating', updatedAt: iso(20_000), applyUntil: iso(80_000), targets, ...patch })

    it('given an online target not applied nor failed before the apply deadline, then it waits until that deadline', () => {
      const record = activating([
        target('fe01.dublin.corp', { staged: true, applied: true }),
        target('fe02.dublin.corp', { staged: true }),
      ])
      assert.deepEqual(nextStep(record, at(30_000)), { kind: 'wait', until: iso(80_000) })
    })

    it('given every target applied, then it finishes without a reason', () => {
      const record = activating([
        target('fe01.dublin.corp', { staged: true, applied: true }),
        target('fe02.dublin.corp', { staged: true, applied: true }),
      ])
      assert.deepEqual(nextStep(record, at(30_000)), { kind: 'finish' })
    })

    it('given the online targets applied or failed and one offline, then it finishes before the deadline, naming the offline and failed servers', () => {
      const record = activating([
        target('fe01.amsterdam.corp', { online: false }),
        target('fe01.dublin.corp', { staged: true, applied: true }),
        target('fe02.dublin.corp', { staged: true, failure: 'pool recycle failed' }),
      ])
      assert.deepEqual(nextStep(record, at(30_000)), {
        kind: 'finish',
        reason:
          'pending sites, offline (they catch up when they return): amsterdam (fe01.amsterdam.corp); failed: fe02.dublin.corp (pool recycle failed)',
      })
    })

    it('given the apply deadline passed with online targets still not applied, then it finishes naming them', () => {
      const record = activating([
        target('fe01.dublin.corp', { staged: true, applied: true }),
        target('fe02.dublin.corp', { staged: true }),
        target('fe03.dublin.corp'),
      ])
      assert.deepEqual(nextStep(record, at(80_000)), {
        kind: 'finish',
        reason: 'not applied in time: fe02.dublin.corp, fe03.dublin.corp',
      })
    })

    it('given no apply deadline, then the last update is the deadline', () => {
      const record = activating([target('fe01.dublin.corp', { staged: true })], { applyUntil: null })
      assert.deepEqual(nextStep(record, at(10_000)), { kind: 'wait', until: iso(20_000) })
      assert.deepEqual(nextStep(record, at(20_000)), {
        kind: 'finish',
        reason: 'not applied in time: fe01.dublin.corp',
      })
    })
  })

  it('given a finished rotation, then the step is finish', () => {
    assert.deepEqual(nextStep(rotation({ state: 'done', targets: [target('fe01.dublin.corp')] }), at(0)), {
      kind: 'finish',
    })
    assert.deepEqual(nextStep(rotation({ state: 'aborted' }), at(0)), { kind: 'finish' })
  })
})

describe('describe', () => {
  it('given every target applied, then there is nothing to say', () => {
    const record = rotation({
      state: 'done',
      targets: [
        target('fe01.dublin.corp', { staged: true, applied: true }),
        // applied then went quiet: neither offline nor failed for this rotation
        target('fe02.dublin.corp', { staged: true, applied: true, online: false, failure: 'old' }),
      ],
    })
    assert.equal(describeRecord(record), undefined)
  })

  it('given servers offline, failed and behind, then it names each group in that order', () => {
    const record = rotation({
      state: 'activating',
      targets: [
        target('fe01.amsterdam.corp', { online: false }),
        target('fe02.amsterdam.corp', { online: false }),
        target('fe01.dublin.corp', { failure: 'disk full' }),
        target('fe02.dublin.corp', { staged: true }),
        target('fe03.dublin.corp', { staged: true, applied: true }),
      ],
    })
    assert.equal(
      describeRecord(record),
      'pending sites, offline (they catch up when they return): amsterdam (fe01.amsterdam.corp, fe02.amsterdam.corp); failed: fe01.dublin.corp (disk full); not applied in time: fe02.dublin.corp',
    )
  })

  it('given staging, then the online targets that did not stage are named, not those staged but not applied', () => {
    const record = rotation({
      targets: [target('fe01.dublin.corp'), target('fe02.dublin.corp', { staged: true })],
    })
    assert.equal(describeRecord(record), 'not staged in time: fe01.dublin.corp')
  })

  it('given a very long list, then it is cut to 2048 characters', () => {
    const targets = Array.from({ length: 20 }, (_, i) =>
      target(`fe${String(i).padStart(2, '0')}.dublin.corp`, { failure: 'y'.repeat(200) }),
    )
    const text = describeRecord(rotation({ state: 'activating', targets }))
    assert.equal(text?.length, 2048)
    assert.ok(text?.startsWith('failed: fe00.dublin.corp (yyy'))
  })
})

describe('caughtUp', () => {
  const done = (targets: RotationTarget[]) => {
    const record = rotation({ state: 'done', targets })
    return { ...record, reason: describeBehind(record) }
  }

  it('given a done rotation whose offline agents applied its kvno (or a later one) since, then they count applied and their sites are no longer pending', () => {
    const record = done([
      target('fe01.dublin.corp', { online: false }),
      target('fe02.dublin.corp', { online: false }),
      target('fe01.paris.corp', { online: false }),
      target('fe01.rome.corp', { online: false }),
      target('fe01.amsterdam.corp', { staged: true, applied: true }),
    ])
    const statuses = new Map<string, AgentStatus>([
      [
        'fe01.dublin.corp',
        status('fe01.dublin.corp', iso(0), { lastApplied: { at: iso(0), account: 'corp\\web', kvno: 5 } }),
      ],
      [
        'fe02.dublin.corp',
        status('fe02.dublin.corp', iso(0), {
          held: { at: iso(0), kvnos: [{ account: 'CORP\\WEB', kvno: 5 }] },
        }),
      ],
      // A later rotation reached it: it is past this one.
      [
        'fe01.paris.corp',
        status('fe01.paris.corp', iso(0), { lastApplied: { at: iso(0), account: 'CORP\\WEB', kvno: 6 } }),
      ],
      // Still behind, or another account's kvno.
      [
        'fe01.rome.corp',
        status('fe01.rome.corp', iso(0), { lastApplied: { at: iso(0), account: 'CORP\\OTHER', kvno: 5 } }),
      ],
    ])
    assert.deepEqual(pendingSites(record), ['dublin', 'paris', 'rome'])
    const next = caughtUp(record, statuses)
    assert.ok(next)
    assert.deepEqual(pendingSites(next), ['rome'])
    assert.equal(
      next.reason,
      'pending sites, offline (they catch up when they return): rome (fe01.rome.corp)',
    )
    const all = caughtUp(next, new Map([...statuses, ['fe01.rome.corp', statuses.get('fe01.dublin.corp')!]]))
    assert.ok(all)
    assert.equal(all.reason, undefined, 'nobody left behind: no reason')
    assert.deepEqual(
      next.targets.map((t) => [t.server, t.online, t.applied]),
      [
        ['fe01.dublin.corp', false, true],
        ['fe02.dublin.corp', false, true],
        ['fe01.paris.corp', false, true],
        ['fe01.rome.corp', false, false],
        ['fe01.amsterdam.corp', true, true],
      ],
    )
    assert.deepEqual(
      viewOf(next).counts?.sites.find((c) => c.site === 'dublin'),
      {
        site: 'dublin',
        targets: 2,
        staged: 2,
        applied: 2,
        offline: 0,
        failed: 0,
      },
    )
  })

  it('given a rotation not done (running, aborted) or no agent caught up, then nothing changes', () => {
    const offline = [target('fe01.dublin.corp', { online: false })]
    const applied = new Map<string, AgentStatus>([
      [
        'fe01.dublin.corp',
        status('fe01.dublin.corp', iso(0), { lastApplied: { at: iso(0), account: 'CORP\\WEB', kvno: 5 } }),
      ],
    ])
    assert.equal(caughtUp(rotation({ targets: offline }), applied), null)
    assert.equal(caughtUp(rotation({ state: 'aborted', targets: offline }), applied), null)
    assert.equal(caughtUp(done(offline), new Map()), null)
  })
})
