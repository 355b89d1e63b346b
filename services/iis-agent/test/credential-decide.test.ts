import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { IssuedCredential } from '@krbfleet/contracts'
import { decideDelivery, type RetainedMessage } from '../src/credentials/decide.ts'
import type { HeldKey } from '../src/ports.ts'

const self = { server: 'fe01.corp.example.com', keyId: 'agent-key-1' }
const A = 'CORP\\KERBAUTH'
const B = 'CORP\\KERBNEXT'
/** The credential the account service retains for this server: CORP\KERBAUTH kvno 5, active, nothing kept. */
const credential = (fields: Record<string, unknown> = {}) => ({
  server: self.server,
  account: A,
  kvno: 5,
  phase: 'active',
  keep: [],
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
})
const put = (fields: Record<string, unknown> = {}): RetainedMessage => ({
  kind: 'put',
  data: new TextEncoder().encode(JSON.stringify(credential(fields))),
})
/** What a decision carries as `credential`: the retained one, decoded. */
const decoded = (fields: Record<string, unknown> = {}) => credential(fields) as IssuedCredential
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

  it('a first credential is installed alone, with what it keeps', () => {
    assert.deepEqual(decideDelivery(self, [], put({})), {
      kind: 'install',
      credential: decoded({}),
      keep: [5],
      remove: [],
    })
    const withKeep = decideDelivery(self, [], put({ keep: [4] }))
    assert.deepEqual(withKeep.kind === 'install' && [withKeep.keep, withKeep.remove], [[5, 4], []])
  })

  it('a staged newer kvno is put beside the active one: keeps the staged, the active and the kept kvnos', () => {
    const staged = { kvno: 5, phase: 'staged', keep: [3], rotationId: 'rot-1' }
    assert.deepEqual(decideDelivery(self, holding([A, 4, true], [A, 3, false]), put(staged)), {
      kind: 'stage',
      credential: decoded(staged),
      keep: [5, 4, 3],
      remove: [],
    })
    const nothingKept = decideDelivery(self, holding([A, 4, true], [A, 3, false]), put({ phase: 'staged' }))
    assert.deepEqual(
      nothingKept.kind === 'stage' && [nothingKept.keep, nothingKept.remove],
      [[5, 4], []],
      'the active kvno stays while the new one is only staged, even when the credential does not list it',
    )
  })

  it('a staged kvno with no active one held is staged alone; another account held goes', () => {
    const first = decideDelivery(self, [], put({ phase: 'staged' }))
    assert.deepEqual(first.kind === 'stage' && [first.keep, first.remove], [[5], []])
    const moved = decideDelivery(self, holding([B, 9, true]), put({ phase: 'staged', keep: [4] }))
    assert.deepEqual(moved.kind === 'stage' && [moved.keep, moved.remove], [[5, 4], [B]])
  })

  it("a new rotation staged after an aborted one does not keep the aborted rotation's kvno", () => {
    const next = decideDelivery(self, holding([A, 4, true], [A, 5, false]), put({ kvno: 6, phase: 'staged' }))
    assert.deepEqual(next.kind === 'stage' && next.keep, [6, 4])
  })

  it('an active newer kvno is installed; it keeps only its kept kvnos, not the old active one by itself', () => {
    const kept = decideDelivery(self, holding([A, 4, true], [A, 3, false]), put({ keep: [4] }))
    assert.deepEqual(kept, { kind: 'install', credential: decoded({ keep: [4] }), keep: [5, 4], remove: [] })
    const notKept = decideDelivery(self, holding([A, 4, true], [A, 3, false]), put({}))
    assert.deepEqual(notKept.kind === 'install' && [notKept.keep, notKept.remove], [[5], []])
  })

  it('the staged kvno confirmed (same kvno, now active) is installed and switched to', () => {
    const confirmed = decideDelivery(self, holding([A, 4, true], [A, 5, false]), put({ keep: [4] }))
    assert.deepEqual(confirmed.kind === 'install' && [confirmed.keep, confirmed.remove], [[5, 4], []])
  })

  it('the active kvno again with nothing extra held is nothing to do', () => {
    assert.deepEqual(decideDelivery(self, holding([A, 5, true]), put({})), {
      kind: 'none',
      why: 'kvno 5 of CORP\\KERBAUTH is already active',
    })
    assert.equal(decideDelivery(self, holding([A, 5, true], [A, 4, false]), put({ keep: [4] })).kind, 'none')
  })

  it('the active kvno again retires the held kvnos it no longer keeps', () => {
    assert.deepEqual(
      decideDelivery(self, holding([A, 5, true], [A, 4, false], [A, 3, false]), put({ keep: [4] })),
      { kind: 'retire', account: A, keep: [5, 4], drop: [3], remove: [] },
    )
    assert.deepEqual(
      decideDelivery(self, holding([A, 6, false], [A, 5, true], [A, 1, false], [A, 3, false]), put({})),
      { kind: 'retire', account: A, keep: [5], drop: [1, 3, 6], remove: [] },
      "an aborted rotation's staged kvno (6) and kvnos past the ticket lifetime go, in ascending order",
    )
  })

  it('an older kvno is a replay, active or staged', () => {
    const replay = decideDelivery(self, holding([A, 6, true]), put({}))
    assert.deepEqual(replay, {
      kind: 'reject',
      account: A,
      kvno: 5,
      reason:
        'kvno 5 of CORP\\KERBAUTH is older than the active kvno 6: a replayed credential is not installed',
    })
    const stagedReplay = decideDelivery(self, holding([A, 6, true]), put({ phase: 'staged' }))
    assert.equal(stagedReplay.kind, 'reject')
    assert.deepEqual(stagedReplay.kind === 'reject' && [stagedReplay.account, stagedReplay.kvno], [A, 5])
  })

  it('another account for the site installs it and removes the old one, also once the new one is active', () => {
    const moved = decideDelivery(self, holding([B, 9, true]), put({}))
    assert.deepEqual(moved.kind === 'install' && [moved.keep, moved.remove], [[5], [B]])
    assert.deepEqual(decideDelivery(self, holding([B, 9, true], [A, 5, true]), put({})), {
      kind: 'retire',
      account: A,
      keep: [5],
      drop: [],
      remove: [B],
    })
    assert.deepEqual(decideDelivery(self, holding([B, 9, true], [A, 5, true], [A, 4, false]), put({})), {
      kind: 'retire',
      account: A,
      keep: [5],
      drop: [4],
      remove: [B],
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
    for (const fields of [{ phase: 'pending' }, { phase: undefined }, { keep: undefined }, { keep: ['4'] }]) {
      const decision = decideDelivery(self, holding([A, 4, true]), put(fields))
      assert.equal(decision.kind, 'reject', JSON.stringify(fields))
      assert.match(
        decision.kind === 'reject' ? decision.reason : '',
        /^the retained credential is malformed: /,
      )
    }
    const invalidUtf8 = decideDelivery(self, [], { kind: 'put', data: Uint8Array.of(0xc3, 0x28) })
    assert.match(invalidUtf8.kind === 'reject' ? invalidUtf8.reason : '', /malformed: not UTF-8 text/)
  })
})
