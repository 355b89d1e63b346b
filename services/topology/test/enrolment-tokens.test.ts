import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  checkEnrolmentToken,
  hashToken,
  newEnrolmentToken,
  type StoredToken,
} from '../src/enrolment/tokens.ts'

const server = 'fe01.corp.example.com'
const now = new Date('2026-12-04T12:00:00.000Z')
const token = newEnrolmentToken()
const stored: StoredToken = {
  server,
  sha256: hashToken(token),
  issuedAt: '2026-12-04T11:00:00.000Z',
  expiresAt: '2026-12-05T11:00:00.000Z',
  issuedBy: 'token:ops',
}

describe('enrolment tokens', () => {
  it('are unguessable, recognisable, and stored as their SHA-256 only', () => {
    assert.match(token, /^kfe_[A-Za-z0-9_-]{43}$/)
    assert.notEqual(newEnrolmentToken(), token)
    assert.match(stored.sha256, /^[0-9a-f]{64}$/)
    assert.ok(!JSON.stringify(stored).includes(token.slice(4)))
  })

  it("accept the server's own token before it expires", () => {
    assert.deepEqual(checkEnrolmentToken(stored, server, token, now), { ok: true })
  })

  it('refuse a missing, wrong, used, foreign or expired token, saying how to get one', () => {
    const cases: Array<[StoredToken | null, string, string | undefined, Date, RegExp]> = [
      [stored, server, undefined, now, /needs its one-time enrolment token/],
      [stored, server, newEnrolmentToken(), now, /not the one issued for fe01/],
      [
        null,
        server,
        token,
        now,
        /no enrolment token is waiting for fe01\.corp\.example\.com \(used or never issued\)/,
      ],
      [{ ...stored, server: 'fe02.corp.example.com' }, server, token, now, /no enrolment token is waiting/],
      [stored, server, token, new Date('2026-12-05T11:00:00.000Z'), /expired at 2026-12-05T11:00:00.000Z/],
      [stored, server, 'short', now, /not the one issued/],
    ]
    for (const [record, name, given, at, rule] of cases) {
      const check = checkEnrolmentToken(record, name, given, at)
      assert.equal(check.ok, false)
      assert.match(check.ok ? '' : check.rule, rule)
      assert.match(check.ok ? '' : check.rule, /krbfleet agent token fe01\.corp\.example\.com/)
    }
  })
})
