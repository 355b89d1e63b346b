import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { desiredSecret } from '../src/domain/deliveries.ts'
import {
  type AccountRecord,
  AccountRecordCodec,
  beginSecret,
  confirmSecret,
  DEFAULT_MAX_TICKET_LIFETIME_MS,
  stillRetiring,
} from '../src/domain/record.ts'
import { kerbauthInput } from './fixtures/record.ts'

/**
 * confirmSecret keeps the kvno it replaces in `retiring` until the maximum ticket lifetime after
 * the confirmation (tickets issued for it stay valid that long), drops entries already past their
 * time, and records the rotation id for a rotation's secret only.
 */
describe('retiring kvnos', () => {
  const input = kerbauthInput
  const t0 = new Date('2026-01-01T00:00:00.000Z')
  const now = new Date('2026-01-02T00:00:00.000Z')
  const hour = 3_600_000
  const at = (ms: number) => new Date(now.getTime() + ms).toISOString()
  /** CORP\KERBAUTH confirmed at `kvno` at t0, then a new secret pending at `now`. */
  const pendingAfter = (
    kvno: number,
    operation: 'reset' | 'rotate' = 'reset',
    patch: Partial<AccountRecord> = {},
    correlationId?: string,
  ): AccountRecord => {
    const current = {
      ...confirmSecret(beginSecret(null, input, `s${kvno}`, 'create', null, t0), kvno, t0),
      ...patch,
    }
    return beginSecret(
      current,
      input,
      `s${kvno + 1}`,
      operation,
      kvno,
      now,
      correlationId ? { correlationId } : {},
    )
  }

  it('the default retirement is the maximum ticket lifetime AD grants: 10 hours', () => {
    assert.equal(DEFAULT_MAX_TICKET_LIFETIME_MS, 36_000_000)
  })

  it('given a first secret (nothing replaced), then nothing retires', () => {
    const done = confirmSecret(beginSecret(null, input, 's1', 'create', null, t0), 1, t0)
    assert.equal('retiring' in done, false)
    AccountRecordCodec.decode(done)
  })

  it('given a secret replaced, then its kvno retires until now + the maximum ticket lifetime', () => {
    const done = confirmSecret(pendingAfter(4), 5, now)
    assert.deepEqual(done.retiring, [{ kvno: 4, until: '2026-01-02T10:00:00.000Z' }])
    assert.equal(done.secret?.kvno, 5)
    AccountRecordCodec.decode(done)
    const shorter = confirmSecret(pendingAfter(4), 5, now, undefined, 2 * hour)
    assert.deepEqual(shorter.retiring, [{ kvno: 4, until: '2026-01-02T02:00:00.000Z' }])
  })

  it('given earlier kvnos retiring, then the expired ones are dropped and the valid ones stay, oldest first', () => {
    const record = pendingAfter(4, 'reset', {
      retiring: [
        { kvno: 2, until: at(-hour) },
        { kvno: 3, until: at(5 * hour) },
      ],
    })
    assert.deepEqual(confirmSecret(record, 5, now).retiring, [
      { kvno: 3, until: '2026-01-02T05:00:00.000Z' },
      { kvno: 4, until: '2026-01-02T10:00:00.000Z' },
    ])
    const allExpired = pendingAfter(4, 'reset', { retiring: [{ kvno: 3, until: now.toISOString() }] })
    assert.deepEqual(
      confirmSecret(allExpired, 5, now).retiring,
      [{ kvno: 4, until: '2026-01-02T10:00:00.000Z' }],
      'an entry whose time is exactly now has expired',
    )
  })

  it('given the confirmed kvno is the current one, then nothing new retires, expired entries go, and the key goes when empty', () => {
    const same = pendingAfter(4, 'reset', {
      retiring: [
        { kvno: 2, until: at(-hour) },
        { kvno: 3, until: at(hour) },
      ],
    })
    assert.deepEqual(confirmSecret(same, 4, now).retiring, [{ kvno: 3, until: '2026-01-02T01:00:00.000Z' }])
    const onlyExpired = pendingAfter(4, 'reset', { retiring: [{ kvno: 3, until: at(-hour) }] })
    assert.equal('retiring' in confirmSecret(onlyExpired, 4, now), false)
  })

  it('never lists the confirmed kvno as retiring, nor a kvno twice', () => {
    // AD reports kvno 3 while 3 is still listed as retiring: it is the secret again, not retiring.
    const back = pendingAfter(4, 'reset', { retiring: [{ kvno: 3, until: at(hour) }] })
    assert.deepEqual(confirmSecret(back, 3, now).retiring, [{ kvno: 4, until: '2026-01-02T10:00:00.000Z' }])
    // The replaced kvno already listed (with an older time): listed once, with the new time.
    const twice = pendingAfter(4, 'reset', { retiring: [{ kvno: 4, until: at(hour) }] })
    assert.deepEqual(confirmSecret(twice, 5, now).retiring, [{ kvno: 4, until: '2026-01-02T10:00:00.000Z' }])
  })

  it('keeps at most 16 retiring kvnos: the oldest entries go first', () => {
    const retiring = Array.from({ length: 16 }, (_, i) => ({ kvno: i + 1, until: at(hour) }))
    const done = confirmSecret(pendingAfter(17, 'reset', { retiring }), 18, now)
    assert.deepEqual(
      done.retiring?.map((r) => r.kvno),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
    )
    AccountRecordCodec.decode(done)
  })

  it('sets the rotation id only for a rotation with a correlation id', () => {
    const rotated = confirmSecret(pendingAfter(4, 'rotate', {}, 'rot-1'), 5, now)
    assert.deepEqual(rotated.secret, { sealed: 's5', kvno: 5, setAt: now.toISOString(), rotationId: 'rot-1' })
    AccountRecordCodec.decode(rotated)
    const reset = confirmSecret(pendingAfter(4, 'reset', {}, 'req-1'), 5, now)
    assert.deepEqual(reset.secret, { sealed: 's5', kvno: 5, setAt: now.toISOString() })
    const anonymous = confirmSecret(pendingAfter(4, 'rotate'), 5, now)
    assert.deepEqual(anonymous.secret, { sealed: 's5', kvno: 5, setAt: now.toISOString() })
    // A reset after a rotation replaces the secret whole: the rotation id does not carry over.
    const later = new Date(now.getTime() + hour)
    const afterRotation = confirmSecret(beginSecret(rotated, input, 's6', 'reset', 5, later), 6, later)
    assert.deepEqual(afterRotation.secret, { sealed: 's6', kvno: 6, setAt: later.toISOString() })
  })

  it('stillRetiring lists the entries whose time is after now', () => {
    const record = pendingAfter(4, 'reset', {
      retiring: [
        { kvno: 1, until: at(-hour) },
        { kvno: 2, until: now.toISOString() },
        { kvno: 3, until: at(1) },
      ],
    })
    assert.deepEqual(stillRetiring(record, now), [{ kvno: 3, until: '2026-01-02T00:00:00.001Z' }])
    assert.deepEqual(
      stillRetiring(pendingAfter(4), now),
      [],
      'a record without retiring (written before it existed)',
    )
  })

  it('through a rotation, the servers keep the replaced kvno until its tickets expire', () => {
    const staged = pendingAfter(4, 'rotate', {}, 'rot-1')
    assert.deepEqual(desiredSecret(staged, now), {
      desired: { kvno: 5, phase: 'staged', keep: [], rotationId: 'rot-1' },
      sealed: 's5',
    })
    const confirmed = confirmSecret(staged, 5, now)
    assert.deepEqual(desiredSecret(confirmed, new Date(now.getTime() + hour)), {
      desired: { kvno: 5, phase: 'active', keep: [4], rotationId: 'rot-1' },
      sealed: 's5',
    })
    assert.deepEqual(
      desiredSecret(confirmed, new Date(now.getTime() + 10 * hour))?.desired.keep,
      [],
      'ten hours after the confirmation, kvno 4 is no longer kept',
    )
  })
})
