import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type CredentialLifecycle,
  evolveLifecycle,
  initialLifecycle,
  kvnosToHold,
  type LifecycleEvent,
} from '../src/index.ts'

const hours = (n: number) => n * 60 * 60 * 1000
const replay = (events: LifecycleEvent[]): CredentialLifecycle =>
  events.reduce(evolveLifecycle, initialLifecycle('CORP\\KERBAUTH'))

describe('credential lifecycle (two-phase rotation on one agent)', () => {
  test('given kvno 2 active, when 3 is staged, then both are held (no 401 window)', () => {
    const state = replay([
      { kind: 'activated', kvno: 2, at: '2026-01-01T00:00:00Z', maxTicketLifetimeMs: hours(10) },
      { kind: 'staged', kvno: 3 },
    ])
    assert.deepEqual(kvnosToHold(state), [3, 2])
  })

  test('given 3 activated, then 2 is kept until the maximum ticket lifetime has passed', () => {
    const events: LifecycleEvent[] = [
      { kind: 'activated', kvno: 2, at: '2026-01-01T00:00:00Z', maxTicketLifetimeMs: hours(10) },
      { kind: 'staged', kvno: 3 },
      { kind: 'activated', kvno: 3, at: '2026-01-02T00:00:00Z', maxTicketLifetimeMs: hours(10) },
    ]
    const afterActivate = replay(events)
    assert.equal(afterActivate.staged, null)
    assert.deepEqual(kvnosToHold(afterActivate), [3, 2])
    const beforeExpiry = evolveLifecycle(afterActivate, { kind: 'expired', now: '2026-01-02T09:59:59Z' })
    assert.deepEqual(kvnosToHold(beforeExpiry), [3, 2])
    const afterExpiry = evolveLifecycle(afterActivate, { kind: 'expired', now: '2026-01-02T10:00:01Z' })
    assert.deepEqual(kvnosToHold(afterExpiry), [3])
  })

  test('given a staged kvno, when the AD write fails and the rotation aborts, then the staged key is dropped', () => {
    const state = replay([
      { kind: 'activated', kvno: 2, at: '2026-01-01T00:00:00Z', maxTicketLifetimeMs: hours(10) },
      { kind: 'staged', kvno: 3 },
      { kind: 'aborted', kvno: 3 },
    ])
    assert.deepEqual(kvnosToHold(state), [2])
  })

  test('a redelivered activation changes nothing', () => {
    const once = replay([
      { kind: 'activated', kvno: 4, at: '2026-01-01T00:00:00Z', maxTicketLifetimeMs: hours(10) },
    ])
    const twice = evolveLifecycle(once, {
      kind: 'activated',
      kvno: 4,
      at: '2026-01-01T01:00:00Z',
      maxTicketLifetimeMs: 1,
    })
    assert.deepEqual(twice, once)
  })

  test('an older kvno can be neither staged nor activated', () => {
    const state = replay([
      { kind: 'activated', kvno: 5, at: '2026-01-01T00:00:00Z', maxTicketLifetimeMs: hours(10) },
    ])
    assert.throws(() => evolveLifecycle(state, { kind: 'staged', kvno: 5 }), /not newer/)
    assert.throws(
      () =>
        evolveLifecycle(state, {
          kind: 'activated',
          kvno: 4,
          at: '2026-01-01T00:00:00Z',
          maxTicketLifetimeMs: 0,
        }),
      /older/,
    )
  })
})
