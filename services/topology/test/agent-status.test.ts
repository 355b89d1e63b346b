import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { heldKvnos } from '@krbfleet/contracts'
import { evolveAgentStatus } from '../src/agents/status.ts'

const server = 'fe01.corp.example.com'
const account = 'CORP\\KERBAUTH'

describe('evolveAgentStatus', () => {
  it('keeps the latest heartbeat, applied, failed and removed report, each on its own', () => {
    let status = evolveAgentStatus(server, null, {
      kind: 'heartbeat',
      at: '2026-12-04T10:00:00.000Z',
      backend: 'keytab',
      kvnos: [{ account, kvno: 3 }],
      health: { ok: true },
    })
    status = evolveAgentStatus(server, status, {
      kind: 'applied',
      at: '2026-12-04T10:00:05.000Z',
      account,
      kvno: 4,
    })
    status = evolveAgentStatus(server, status, {
      kind: 'failed',
      at: '2026-12-04T10:00:06.000Z',
      reason: 'the retained credential is malformed: x',
    })
    status = evolveAgentStatus(server, status, {
      kind: 'heartbeat',
      at: '2026-12-04T10:00:30.000Z',
      backend: 'keytab',
      kvnos: [
        { account, kvno: 4 },
        { account, kvno: 3 },
      ],
    })
    assert.deepEqual(status, {
      server,
      lastHeartbeat: {
        at: '2026-12-04T10:00:30.000Z',
        backend: 'keytab',
        kvnos: [
          { account, kvno: 4 },
          { account, kvno: 3 },
        ],
      },
      held: {
        at: '2026-12-04T10:00:30.000Z',
        kvnos: [
          { account, kvno: 4 },
          { account, kvno: 3 },
        ],
      },
      lastApplied: { at: '2026-12-04T10:00:05.000Z', account, kvno: 4 },
      lastFailure: { at: '2026-12-04T10:00:06.000Z', reason: 'the retained credential is malformed: x' },
    })
  })

  it('a late or redelivered report never replaces a newer one', () => {
    const now = evolveAgentStatus(server, null, {
      kind: 'applied',
      at: '2026-12-04T10:00:05.000Z',
      account,
      kvno: 5,
    })
    assert.deepEqual(
      evolveAgentStatus(server, now, { kind: 'applied', at: '2026-12-04T09:00:00.000Z', account, kvno: 4 }),
      now,
    )
    assert.deepEqual(
      evolveAgentStatus(server, now, { kind: 'applied', at: '2026-12-04T10:00:05.000Z', account, kvno: 5 }),
      now,
    )
    const removed = evolveAgentStatus(server, now, {
      kind: 'removed',
      at: '2026-12-04T11:00:00.000Z',
      account,
    })
    assert.deepEqual(removed.lastRemoved, { at: '2026-12-04T11:00:00.000Z', account })
    assert.deepEqual(removed.lastApplied, now.lastApplied)
  })

  it('what the server holds comes from the latest heartbeat or install report that says it', () => {
    const beat = evolveAgentStatus(server, null, {
      kind: 'heartbeat',
      at: '2026-12-04T10:00:00.000Z',
      backend: 'keytab',
      kvnos: [{ account, kvno: 3 }],
    })
    // A rotation's two reports stand for the heartbeats that used to follow them.
    const staged = evolveAgentStatus(server, beat, {
      kind: 'staged',
      at: '2026-12-04T10:00:01.000Z',
      account,
      kvno: 4,
      held: [
        { account, kvno: 3 },
        { account, kvno: 4 },
      ],
    })
    assert.deepEqual(heldKvnos(staged), [
      { account, kvno: 3 },
      { account, kvno: 4 },
    ])
    assert.deepEqual(staged.lastHeartbeat, beat.lastHeartbeat, 'a report is not a heartbeat (online)')
    assert.equal(staged.lastApplied, undefined)
    const applied = evolveAgentStatus(server, staged, {
      kind: 'applied',
      at: '2026-12-04T10:00:02.000Z',
      account,
      kvno: 4,
      held: [
        { account, kvno: 4 },
        { account, kvno: 3 },
      ],
    })
    assert.deepEqual(applied.held, {
      at: '2026-12-04T10:00:02.000Z',
      kvnos: [
        { account, kvno: 4 },
        { account, kvno: 3 },
      ],
    })
    assert.deepEqual(applied.lastApplied, { at: '2026-12-04T10:00:02.000Z', account, kvno: 4 })
    // A heartbeat sent before the install but heard after it does not undo it.
    const late = evolveAgentStatus(server, applied, {
      kind: 'heartbeat',
      at: '2026-12-04T10:00:01.500Z',
      backend: 'keytab',
      kvnos: [{ account, kvno: 3 }],
    })
    assert.deepEqual(late.held, applied.held)
    assert.equal(late.lastHeartbeat?.at, '2026-12-04T10:00:01.500Z')
    // A report of an agent from before `held` changes only its own part.
    const old = evolveAgentStatus(server, beat, {
      kind: 'staged',
      at: '2026-12-04T10:00:03.000Z',
      account,
      kvno: 4,
    })
    assert.deepEqual(old, beat)
    // A status stored before `held` existed answers from its heartbeat.
    const { held: _held, ...stored } = beat
    assert.deepEqual(heldKvnos(stored), [{ account, kvno: 3 }])
    assert.deepEqual(heldKvnos(null), [])
  })
})
