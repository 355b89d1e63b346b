import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decideDelivery, type RetainedMessage } from '../src/credentials/decide.ts'
import type { HeldKey } from '../src/ports.ts'

const self = { server: 'fe01.corp.example.com', keyId: 'agent-key-1' }
const A = 'CORP\\KERBAUTH'
const B = 'CORP\\KERBNEXT'
const put = (fields: Record<string, unknown>): RetainedMessage => ({
  kind: 'put',
  data: new TextEncoder().encode(
    JSON.stringify({
      server: self.server,
      account: A,
      kvno: 5,
      recipient: self.keyId,
      issuedAt: '2026-12-04T10:00:00.000Z',
      sealed: {
        v: 'krbfleet-seal/1',
        typ: 'json',
        signer: 'signer-1',
        recipient: self.keyId,
        epk: 'AA',
        nonce: 'AA',
        ciphertext: 'AA',
        signature: 'AA',
      },
      ...fields,
    }),
  ),
})
const holding = (...keys: Array<[string, number, boolean]>): HeldKey[] =>
  keys.map(([account, kvno, active]) => ({ account, kvno, active }))

describe('decideDelivery', () => {
  it('an absent key changes nothing, even with keys held', () => {
    assert.equal(decideDelivery(self, holding([A, 4, true]), { kind: 'absent' }).kind, 'none')
  })

  it('a revocation removes every account held, or nothing when none is', () => {
    assert.deepEqual(
      decideDelivery(self, holding([B, 2, true], [A, 4, true], [A, 3, false]), { kind: 'revoked' }),
      {
        kind: 'remove',
        accounts: [A, B],
      },
    )
    assert.equal(decideDelivery(self, [], { kind: 'revoked' }).kind, 'none')
  })

  it('a first credential is installed alone; a newer one keeps the active kvno beside it', () => {
    const first = decideDelivery(self, [], put({}))
    assert.equal(first.kind, 'install')
    assert.deepEqual(first.kind === 'install' && [first.keep, first.remove], [[5], []])
    const newer = decideDelivery(self, holding([A, 4, true], [A, 3, false]), put({}))
    assert.deepEqual(newer.kind === 'install' && [newer.keep, newer.remove], [[5, 4], []])
  })

  it('the active kvno again is nothing to do; an older one is a replay', () => {
    assert.equal(decideDelivery(self, holding([A, 5, true]), put({})).kind, 'none')
    const replay = decideDelivery(self, holding([A, 6, true]), put({}))
    assert.deepEqual(replay, {
      kind: 'reject',
      account: A,
      kvno: 5,
      reason:
        'kvno 5 of CORP\\KERBAUTH is older than the active kvno 6: a replayed credential is not installed',
    })
  })

  it("another account for the site installs it and removes the old one; the new one's active kvno only removes", () => {
    const moved = decideDelivery(self, holding([B, 9, true]), put({}))
    assert.deepEqual(moved.kind === 'install' && [moved.keep, moved.remove], [[5], [B]])
    assert.deepEqual(decideDelivery(self, holding([B, 9, true], [A, 5, true]), put({})), {
      kind: 'remove',
      accounts: [B],
    })
  })

  it('refuses a credential for another server or sealed to another key, naming both', () => {
    const other = decideDelivery(self, [], put({ server: 'fe02.corp.example.com' }))
    assert.equal(other.kind, 'reject')
    assert.match(other.kind === 'reject' ? other.reason : '', /for fe02\.corp\.example\.com, not fe01/)
    const rekeyed = decideDelivery(self, [], put({ recipient: 'agent-key-0' }))
    assert.match(
      rekeyed.kind === 'reject' ? rekeyed.reason : '',
      /sealed to key agent-key-0, not this agent's key agent-key-1/,
    )
  })

  it('refuses malformed messages without naming an account', () => {
    for (const data of ['not json', '{"server":"fe01.corp.example.com"}', '\u00ff']) {
      const decision = decideDelivery(self, [], { kind: 'put', data: new TextEncoder().encode(data) })
      assert.equal(decision.kind, 'reject')
      assert.equal(decision.kind === 'reject' && decision.account, undefined)
      assert.match(
        decision.kind === 'reject' ? decision.reason : '',
        /^the retained credential is malformed: /,
      )
    }
    const invalidUtf8 = decideDelivery(self, [], { kind: 'put', data: Uint8Array.of(0xc3, 0x28) })
    assert.match(invalidUtf8.kind === 'reject' ? invalidUtf8.reason : '', /malformed: not UTF-8 text/)
  })
})
