import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
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
})
