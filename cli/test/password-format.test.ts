import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { RotationTarget, RotationView } from '@krbfleet/contracts'
import { exitCodeOf, formatRotation, progressLine } from '../src/commands/password.ts'

const target = (server: string, patch: Partial<RotationTarget> = {}): RotationTarget => ({
  server,
  site: server.split('.')[1]!,
  pool: `pool.${server.split('.')[1]}.corp`,
  online: true,
  staged: false,
  applied: false,
  ...patch,
})
const applied = (server: string) => target(server, { staged: true, applied: true })

/** A rotation of CORP\WEB from kvno 4 to 5. */
function view(patch: Partial<RotationView> = {}): RotationView {
  return {
    rotationId: 'rot-20260301T000000-0a1b2c3d',
    account: 'CORP\\WEB',
    state: 'done',
    dryRun: false,
    actor: 'user:alice',
    startedAt: '2026-03-01T00:00:00.000Z',
    updatedAt: '2026-03-01T00:00:40.000Z',
    finishedAt: '2026-03-01T00:00:40.000Z',
    previousKvno: 4,
    kvno: 5,
    targets: [applied('fe01.dublin.corp'), applied('fe02.dublin.corp'), applied('fe01.amsterdam.corp')],
    ...patch,
  }
}

/** The table rows of a formatted rotation, each split into its cells (columns are 2+ spaces apart). */
function rows(text: string): Map<string, string[]> {
  const lines = text.split('\n')
  const header = lines.findIndex((l) => l.startsWith('SERVER'))
  assert.notEqual(header, -1, `no table in:\n${text}`)
  assert.deepEqual(lines[header]!.split(/ {2,}/), ['SERVER', 'SITE', 'ONLINE', 'STAGED', 'APPLIED', 'NOTE'])
  const result = new Map<string, string[]>()
  for (const line of lines.slice(header + 1)) {
    const cells = line.split(/ {2,}/)
    if (!/^[\w.-]+\.corp$/.test(cells[0]!)) break
    result.set(cells[0]!, cells.slice(1))
  }
  return result
}

describe('exitCodeOf', () => {
  it('given a done rotation every server applied, then 0', () => {
    assert.equal(exitCodeOf(view()), 0)
  })

  it('given a done rotation without targets, then 0: nothing was left behind', () => {
    assert.equal(exitCodeOf(view({ targets: [] })), 0)
  })

  it('given a done rotation with one server not applied, then 1', () => {
    const targets = [applied('fe01.dublin.corp'), target('fe02.dublin.corp', { online: false })]
    assert.equal(
      exitCodeOf(
        view({
          targets,
          reason: 'pending sites, offline (they catch up when they return): dublin (fe02.dublin.corp)',
        }),
      ),
      1,
    )
  })

  it('given an aborted rotation, then 1', () => {
    assert.equal(exitCodeOf(view({ state: 'aborted', targets: [target('fe01.dublin.corp')] })), 1)
    assert.equal(exitCodeOf(view({ state: 'aborted', targets: [] })), 1, 'even with nothing to apply')
  })
})

describe('progressLine', () => {
  const targets = [
    applied('fe01.dublin.corp'),
    target('fe02.dublin.corp', { staged: true }),
    target('fe01.amsterdam.corp', { online: false }),
  ]

  it('given an activating rotation, then it counts staged and applied out of N, the bar following applied, and per site applied', () => {
    assert.equal(
      progressLine(view({ state: 'activating', targets })),
      `activating [${'#'.repeat(7)}${'.'.repeat(13)}] staged 2/3  applied 1/3  (dublin 1/2, amsterdam 0/1)`,
    )
  })

  it('given a staging rotation, then the bar follows staged', () => {
    assert.equal(
      progressLine(view({ state: 'staging', targets })),
      `staging    [${'#'.repeat(13)}${'.'.repeat(7)}] staged 2/3  applied 1/3  (dublin 1/2, amsterdam 0/1)`,
    )
  })

  it('given a done rotation every server applied, then the bar is full and every site complete', () => {
    assert.equal(
      progressLine(view()),
      `done       [${'#'.repeat(20)}] staged 3/3  applied 3/3  (dublin 2/2, amsterdam 1/1)`,
    )
  })

  it('given no targets, then 0/0 with a full bar and no site list', () => {
    assert.equal(
      progressLine(view({ targets: [] })),
      `done       [${'#'.repeat(20)}] staged 0/0  applied 0/0`,
    )
  })
})

describe('formatRotation', () => {
  it('given a dry run, then the header says what would happen on how many servers, and the table lists each target', () => {
    const text = formatRotation(
      view({
        dryRun: true,
        state: 'staging',
        finishedAt: null,
        targets: [target('fe01.amsterdam.corp', { online: false }), target('fe01.dublin.corp')],
      }),
    )
    const lines = text.split('\n')
    assert.equal(lines[0], 'would rotate the password of CORP\\WEB (kvno 4 -> 5) on 2 server(s):')
    assert.deepEqual(
      [...rows(text)],
      [
        ['fe01.amsterdam.corp', ['amsterdam', 'no', 'no', 'no', 'offline: would catch up when it returns']],
        ['fe01.dublin.corp', ['dublin', 'yes', 'no', 'no']],
      ],
    )
    assert.equal(lines.length, 4, 'header, table head and two rows: no result line on a dry run')
  })

  it('given an aborted rotation, then the last line gives the reason and says nothing changed', () => {
    const text = formatRotation(
      view({
        state: 'aborted',
        targets: [target('fe01.dublin.corp', { failure: 'disk full' })],
        reason: 'no agent staged kvno 5: failed: fe01.dublin.corp (disk full)',
      }),
    )
    const lines = text.split('\n')
    assert.equal(lines[0], 'rotation rot-20260301T000000-0a1b2c3d of CORP\\WEB: aborted, kvno 4 -> 5')
    assert.equal(
      lines.at(-1),
      'aborted: no agent staged kvno 5: failed: fe01.dublin.corp (disk full); AD keeps its password, the servers keep their key',
    )
  })

  it('given an aborted rotation without a reason, then the reason reads unknown', () => {
    const text = formatRotation(view({ state: 'aborted', targets: [target('fe01.dublin.corp')] }))
    assert.equal(
      text.split('\n').at(-1),
      'aborted: unknown reason; AD keeps its password, the servers keep their key',
    )
  })

  it('given a done rotation every server applied, then it ends with N/N server(s) hold kvno K', () => {
    const text = formatRotation(view())
    assert.equal(text.split('\n')[0], 'rotation rot-20260301T000000-0a1b2c3d of CORP\\WEB: done, kvno 4 -> 5')
    assert.equal(text.split('\n').at(-1), '3/3 server(s) hold kvno 5')
    const table = rows(text)
    assert.equal(table.size, 3)
    for (const [, cells] of table) assert.deepEqual(cells.slice(1), ['yes', 'yes', 'yes'], 'no note')
  })

  it('given a done rotation with servers left behind, then each has its note and the last line counts the holders and gives the reason', () => {
    const reason =
      'pending sites, offline (they catch up when they return): amsterdam (fe01.amsterdam.corp); failed: fe02.dublin.corp (disk full); not applied in time: fe03.dublin.corp'
    const text = formatRotation(
      view({
        targets: [
          target('fe01.amsterdam.corp', { online: false }),
          applied('fe01.dublin.corp'),
          target('fe02.dublin.corp', { staged: true, failure: 'disk full' }),
          target('fe03.dublin.corp', { staged: true }),
          // failed and offline: the failure is the note
          target('fe04.dublin.corp', { online: false, failure: 'access denied' }),
        ],
        reason,
      }),
    )
    assert.deepEqual(
      [...rows(text)],
      [
        ['fe01.amsterdam.corp', ['amsterdam', 'no', 'no', 'no', 'offline: catches up when it returns']],
        ['fe01.dublin.corp', ['dublin', 'yes', 'yes', 'yes']],
        ['fe02.dublin.corp', ['dublin', 'yes', 'yes', 'no', 'failed: disk full']],
        ['fe03.dublin.corp', ['dublin', 'yes', 'yes', 'no', 'staged, not applied yet']],
        ['fe04.dublin.corp', ['dublin', 'no', 'no', 'no', 'failed: access denied']],
      ],
    )
    assert.equal(text.split('\n').at(-1), `1/5 server(s) hold kvno 5; ${reason}`)
  })

  it('given a rotation still running, then there is no result line', () => {
    const text = formatRotation(
      view({
        state: 'activating',
        finishedAt: null,
        targets: [applied('fe01.dublin.corp'), target('fe02.dublin.corp', { staged: true })],
      }),
    )
    const lines = text.split('\n')
    assert.equal(lines[0], 'rotation rot-20260301T000000-0a1b2c3d of CORP\\WEB: activating, kvno 4 -> 5')
    assert.equal(lines.length, 4, 'header, table head and two rows')
    assert.deepEqual(rows(text).get('fe02.dublin.corp'), [
      'dublin',
      'yes',
      'yes',
      'no',
      'staged, not applied yet',
    ])
  })
})

describe('a rotation larger than its view lists', () => {
  // The account service lists the servers still awaited first and counts all of them.
  const listed = [target('fe01.dublin.corp', { staged: true }), applied('fe02.dublin.corp')]
  const large = view({
    state: 'activating',
    finishedAt: null,
    targets: listed,
    counts: {
      targets: 5000,
      online: 5000,
      staged: 5000,
      applied: 4999,
      failed: 0,
      sites: [
        { site: 'dublin', targets: 2500, staged: 2500, applied: 2499, offline: 0, failed: 0 },
        { site: 'amsterdam', targets: 2500, staged: 2500, applied: 2500, offline: 0, failed: 0 },
      ],
    },
  })

  it('given its counts, then the progress counts all servers and every site, not the listed ones', () => {
    assert.equal(
      progressLine(large),
      'activating [####################] staged 5000/5000  applied 4999/5000  (dublin 2499/2500, amsterdam 2500/2500)',
    )
  })

  it('given its counts, then the table lists what was sent and says how many more there are; the exit code counts all', () => {
    const text = formatRotation({ ...large, state: 'done', finishedAt: '2026-03-01T00:00:40.000Z' })
    assert.deepEqual([...rows(text).keys()], ['fe01.dublin.corp', 'fe02.dublin.corp'])
    const lines = text.split('\n')
    assert.equal(
      lines.at(-2),
      '... and 4998 more server(s) not listed (4998 of them applied; `--json` gives the counts)',
    )
    assert.equal(lines.at(-1), '4999/5000 server(s) hold kvno 5')
    assert.equal(exitCodeOf({ ...large, state: 'done' }), 1)
    assert.equal(
      exitCodeOf({ ...large, state: 'done', counts: { ...large.counts!, applied: 5000 } }),
      0,
      'every server applied, listed or not',
    )
  })
})
