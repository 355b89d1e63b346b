import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AccountRecord } from '../src/domain/record.ts'
import { dueForRotation, nextRotationAt, scheduledRotationOf } from '../src/rotation/schedule.ts'

const day = 86_400_000
const hour = 3_600_000
const setAt = '2026-01-01T00:00:00.000Z'
const setAtMs = Date.parse(setAt)

/** A managed account record with a confirmed secret (kvno 3) set at `setAt`, nothing pending. */
function record(account: string, patch: Partial<AccountRecord> = {}): AccountRecord {
  const name = account.split('\\')[1]!
  return {
    account,
    dn: `CN=${name},CN=Computers,DC=corp,DC=example,DC=com`,
    samAccountName: `${name}$`,
    dnsHostName: `${name.toLowerCase()}.corp.example.com`,
    encryptionTypes: 24,
    adopted: false,
    createdAt: setAt,
    updatedAt: setAt,
    secret: { sealed: 'c2VhbGVk', kvno: 3, setAt },
    pending: null,
    ...patch,
  }
}

const pendingRotate: AccountRecord['pending'] = {
  sealed: 'bmV4dA==',
  operation: 'rotate',
  previousKvno: 3,
  startedAt: setAt,
  actor: 'user:alice',
  correlationId: 'rot-20260131T000000-0a1b2c3d',
}

const names = Array.from({ length: 20 }, (_, i) => `CORP\\WEB${String(i + 1).padStart(2, '0')}`)

describe('nextRotationAt', () => {
  for (const [maxAgeDays, spreadMs] of [
    [30, 6 * hour], // 10 % would be 3 days: capped at 6 h
    [90, 6 * hour],
    [2, 0.2 * day], // 10 % of 2 days: 4.8 h, under the cap
    [1, 0.1 * day], // 2.4 h
  ] as const) {
    it(`given a maximum age of ${maxAgeDays} day(s), then every account is due at most ${spreadMs / hour} h before the limit, never after it`, () => {
      const limit = setAtMs + maxAgeDays * day
      for (const account of names) {
        const at = nextRotationAt(account, setAt, maxAgeDays).getTime()
        assert.ok(at <= limit, `${account}: ${new Date(at).toISOString()} is after the limit`)
        assert.ok(at >= limit - spreadMs, `${account}: ${new Date(at).toISOString()} is too early`)
      }
    })
  }

  it('given the same account and set time, then the time is the same on every call, in any case of the name', () => {
    const first = nextRotationAt('CORP\\KERBAUTH', setAt, 30)
    assert.equal(nextRotationAt('CORP\\KERBAUTH', setAt, 30).getTime(), first.getTime())
    assert.equal(nextRotationAt('corp\\kerbauth', setAt, 30).getTime(), first.getTime())
    assert.equal(nextRotationAt('Corp\\KerbAuth', setAt, 30).getTime(), first.getTime())
  })

  it('given another set time, then the account keeps the same offset before its limit', () => {
    const offset = (at: string, maxAgeDays: number) =>
      Date.parse(at) + maxAgeDays * day - nextRotationAt('CORP\\KERBAUTH', at, maxAgeDays).getTime()
    const later = '2026-02-17T13:45:10.250Z'
    assert.equal(offset(later, 30), offset(setAt, 30))
    assert.equal(offset(setAt, 90), offset(setAt, 30), 'both ages hit the 6 h cap: same spread, same offset')
  })

  it('given 20 accounts set at the same moment, then their rotations are spread over distinct times', () => {
    const times = new Set(names.map((a) => nextRotationAt(a, setAt, 30).getTime()))
    assert.ok(times.size >= 15, `only ${times.size} distinct times for ${names.length} accounts`)
  })
})

describe('scheduledRotationOf', () => {
  it('given a record with a secret, then it is the next rotation time of its account and set time', () => {
    const r = record('CORP\\KERBAUTH', {
      secret: { sealed: 'c2VhbGVk', kvno: 7, setAt: '2026-02-01T08:00:00.000Z' },
    })
    assert.deepEqual(
      scheduledRotationOf(r, 30),
      nextRotationAt('CORP\\KERBAUTH', '2026-02-01T08:00:00.000Z', 30),
    )
  })

  it('given a record without a secret, then there is no scheduled rotation', () => {
    assert.equal(scheduledRotationOf(record('CORP\\KERBAUTH', { secret: null }), 30), null)
  })

  it('given a record being removed, then there is no scheduled rotation', () => {
    assert.equal(scheduledRotationOf(record('CORP\\KERBAUTH', { removing: true }), 30), null)
  })
})

describe('dueForRotation', () => {
  const maxAgeDays = 30
  const dueAt = (account: string) => nextRotationAt(account, setAt, maxAgeDays)

  it('given records past due, exactly due, just before due and fresh, then only the due ones, sorted', () => {
    const now = dueAt('CORP\\ALPHA')
    const records = [
      // due 1 ms from now: not yet
      record('CORP\\BRAVO', {
        secret: {
          sealed: 'c2VhbGVk',
          kvno: 3,
          setAt: new Date(setAtMs + (now.getTime() - dueAt('CORP\\BRAVO').getTime()) + 1).toISOString(),
        },
      }),
      // set long before: overdue
      record('CORP\\ZULU', { secret: { sealed: 'c2VhbGVk', kvno: 3, setAt: '2025-06-01T00:00:00.000Z' } }),
      // due at `now` exactly
      record('CORP\\ALPHA'),
      // set at `now`: a fresh password
      record('CORP\\FRESH', { secret: { sealed: 'c2VhbGVk', kvno: 3, setAt: now.toISOString() } }),
    ]
    assert.equal(
      nextRotationAt('CORP\\BRAVO', records[0]!.secret!.setAt, maxAgeDays).getTime(),
      now.getTime() + 1,
      'the fixture: BRAVO is due 1 ms after now',
    )
    assert.deepEqual(dueForRotation(records, now, maxAgeDays), ['CORP\\ALPHA', 'CORP\\ZULU'])
  })

  it('given overdue records with a pending secret, being removed or without a secret, then none is due', () => {
    const now = new Date(setAtMs + 365 * day)
    const records = [
      record('CORP\\PENDING', { pending: pendingRotate }),
      record('CORP\\RESETTING', { pending: { ...pendingRotate, operation: 'reset' } }),
      record('CORP\\REMOVING', { removing: true }),
      record('CORP\\CREATING', {
        secret: null,
        pending: { ...pendingRotate, operation: 'create', previousKvno: null },
      }),
      record('CORP\\NOSECRET', { secret: null }),
      record('CORP\\DUE'),
    ]
    assert.deepEqual(dueForRotation(records, now, maxAgeDays), ['CORP\\DUE'])
  })

  it('given no records, then nothing is due', () => {
    assert.deepEqual(dueForRotation([], new Date(setAtMs + 365 * day), maxAgeDays), [])
  })
})
