import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TopologyDocument } from '@krbfleet/contracts'
import {
  type DesiredSecret,
  desiredSecret,
  type HeldCredential,
  planDeliveries,
} from '../src/domain/deliveries.ts'
import type { AccountRecord } from '../src/domain/record.ts'

const keyA = 'A'.repeat(43)
const keyB = 'B'.repeat(43)
const keyIdOf = (key: string) => `id-${key.slice(0, 1)}`

/** Two sites: dublin (assigned to CORP\WEB) with an iis and a keytab server, paris (unassigned). */
const topology = (patch: Partial<TopologyDocument> = {}): TopologyDocument => ({
  sites: [{ name: 'dublin' }, { name: 'paris' }],
  pools: [
    {
      fqdn: 'pool.dublin.corp',
      site: 'dublin',
      webServices: true,
      loadBalancerNames: [],
      aliases: [],
      shortNameSpns: false,
    },
    {
      fqdn: 'pool.paris.corp',
      site: 'paris',
      webServices: true,
      loadBalancerNames: [],
      aliases: [],
      shortNameSpns: false,
    },
  ],
  servers: [
    { fqdn: 'fe01.dublin.corp', pool: 'pool.dublin.corp', backend: 'iis' },
    { fqdn: 'fe02.dublin.corp', pool: 'pool.dublin.corp', backend: 'keytab' },
    { fqdn: 'fe01.paris.corp', pool: 'pool.paris.corp', backend: 'keytab' },
  ],
  assignments: [{ site: 'dublin', account: 'CORP\\WEB' }],
  agents: [
    { server: 'fe01.dublin.corp', encryptionKey: keyA, enrolledAt: '2026-01-01T00:00:00Z' },
    { server: 'fe02.dublin.corp', encryptionKey: keyB, enrolledAt: '2026-01-01T00:00:00Z' },
    { server: 'fe01.paris.corp', encryptionKey: keyA, enrolledAt: '2026-01-01T00:00:00Z' },
  ],
  ...patch,
})
/** CORP\WEB confirmed at kvno 4, nothing retiring. */
const active4: DesiredSecret = { kvno: 4, phase: 'active', keep: [] }
const kvnos = new Map([['CORP\\WEB', active4]])
const none = new Map<string, HeldCredential>()
/** What the bucket holds for a server: CORP\WEB, active, nothing kept unless patched. */
const heldAs = (kvno: number, recipient: string, patch: Partial<HeldCredential> = {}): HeldCredential => ({
  account: 'CORP\\WEB',
  kvno,
  phase: 'active',
  keep: [],
  recipient,
  ...patch,
})

describe('planDeliveries', () => {
  it('given an assigned site with enrolled agents, then each server gets its account kvno, the password only for iis', () => {
    const plan = planDeliveries(topology(), kvnos, none, keyIdOf)
    assert.deepEqual(plan.issue, [
      {
        server: 'fe01.dublin.corp',
        account: 'CORP\\WEB',
        kvno: 4,
        phase: 'active',
        keep: [],
        encryptionKey: keyA,
        withPassword: true,
      },
      {
        server: 'fe02.dublin.corp',
        account: 'CORP\\WEB',
        kvno: 4,
        phase: 'active',
        keep: [],
        encryptionKey: keyB,
        withPassword: false,
      },
    ])
    assert.deepEqual(plan.revoke, [], 'the unassigned site holds nothing and gets nothing')
  })

  it('given the bucket already holds the same account, kvno, phase, keep and recipient, then nothing is reissued', () => {
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', heldAs(4, 'id-A')],
      ['fe02.dublin.corp', heldAs(4, 'id-B')],
    ])
    assert.deepEqual(planDeliveries(topology(), kvnos, held, keyIdOf), { issue: [], revoke: [] })
    const staged: DesiredSecret = { kvno: 5, phase: 'staged', keep: [3, 2], rotationId: 'rot-1' }
    const heldStaged = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', heldAs(5, 'id-A', { phase: 'staged', keep: [3, 2] })],
      ['fe02.dublin.corp', heldAs(5, 'id-B', { phase: 'staged', keep: [2, 3] })],
    ])
    assert.deepEqual(
      planDeliveries(topology(), new Map([['CORP\\WEB', staged]]), heldStaged, keyIdOf),
      { issue: [], revoke: [] },
      'a staged credential already held is not reissued; keep compares as a set, in any order',
    )
  })

  it('given a new kvno, a re-enrolled key or another account, then the server is reissued', () => {
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', heldAs(3, 'id-A')],
      ['fe02.dublin.corp', heldAs(4, 'id-old')],
    ])
    const plan = planDeliveries(topology(), kvnos, held, keyIdOf)
    assert.deepEqual(
      plan.issue.map((d) => d.server),
      ['fe01.dublin.corp', 'fe02.dublin.corp'],
    )
    const moved = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', heldAs(4, 'id-A', { account: 'CORP\\OLD' })],
      ['fe02.dublin.corp', heldAs(4, 'id-B')],
    ])
    assert.deepEqual(
      planDeliveries(topology(), kvnos, moved, keyIdOf).issue.map((d) => [d.server, d.account, d.kvno]),
      [['fe01.dublin.corp', 'CORP\\WEB', 4]],
    )
  })

  it('given a rotation staged, then servers holding the active kvno get the staged one with its rotation id', () => {
    const staged: DesiredSecret = { kvno: 5, phase: 'staged', keep: [], rotationId: 'rot-1' }
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', heldAs(4, 'id-A')],
      ['fe02.dublin.corp', heldAs(4, 'id-B')],
    ])
    assert.deepEqual(planDeliveries(topology(), new Map([['CORP\\WEB', staged]]), held, keyIdOf).issue, [
      {
        server: 'fe01.dublin.corp',
        account: 'CORP\\WEB',
        kvno: 5,
        phase: 'staged',
        keep: [],
        rotationId: 'rot-1',
        encryptionKey: keyA,
        withPassword: true,
      },
      {
        server: 'fe02.dublin.corp',
        account: 'CORP\\WEB',
        kvno: 5,
        phase: 'staged',
        keep: [],
        rotationId: 'rot-1',
        encryptionKey: keyB,
        withPassword: false,
      },
    ])
  })

  it('given the staged kvno confirmed, then the same kvno is reissued as active (only the phase differs)', () => {
    const confirmed: DesiredSecret = { kvno: 5, phase: 'active', keep: [4], rotationId: 'rot-1' }
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', heldAs(5, 'id-A', { phase: 'staged', keep: [4] })],
      ['fe02.dublin.corp', heldAs(5, 'id-B', { keep: [4] })],
    ])
    const plan = planDeliveries(topology(), new Map([['CORP\\WEB', confirmed]]), held, keyIdOf)
    assert.deepEqual(
      plan.issue.map((d) => [d.server, d.kvno, d.phase, d.keep]),
      [['fe01.dublin.corp', 5, 'active', [4]]],
      'fe02 already holds kvno 5 active with 4 kept',
    )
    assert.deepEqual(plan.revoke, [])
  })

  it('given the kept kvnos change (a retired kvno past the ticket lifetime), then the server is reissued', () => {
    const retired: DesiredSecret = { kvno: 5, phase: 'active', keep: [] }
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', heldAs(5, 'id-A', { keep: [4] })],
      ['fe02.dublin.corp', heldAs(5, 'id-B', { keep: [] })],
    ])
    assert.deepEqual(
      planDeliveries(topology(), new Map([['CORP\\WEB', retired]]), held, keyIdOf).issue.map((d) => [
        d.server,
        d.kvno,
        d.keep,
      ]),
      [['fe01.dublin.corp', 5, []]],
    )
    const more: DesiredSecret = { kvno: 5, phase: 'active', keep: [4, 3] }
    assert.deepEqual(
      planDeliveries(topology(), new Map([['CORP\\WEB', more]]), held, keyIdOf).issue.map((d) => d.server),
      ['fe01.dublin.corp', 'fe02.dublin.corp'],
      'a keep list that grew differs from both [4] and []',
    )
  })

  it('given a server removed, its site unassigned or its agent without a key, then its credential is revoked', () => {
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', heldAs(4, 'id-A')],
      ['fe02.dublin.corp', heldAs(4, 'id-B')],
      ['gone.dublin.corp', heldAs(4, 'id-A')],
    ])
    const t = topology()
    assert.deepEqual(planDeliveries(t, kvnos, held, keyIdOf).revoke, ['gone.dublin.corp'])
    assert.deepEqual(planDeliveries(topology({ assignments: [] }), kvnos, held, keyIdOf).revoke, [
      'fe01.dublin.corp',
      'fe02.dublin.corp',
      'gone.dublin.corp',
    ])
    const withoutAgent = topology({ agents: t.agents.filter((a) => a.server !== 'fe02.dublin.corp') })
    assert.deepEqual(planDeliveries(withoutAgent, kvnos, held, keyIdOf).revoke, [
      'fe02.dublin.corp',
      'gone.dublin.corp',
    ])
  })

  it('given an account without a confirmed secret, then its servers keep what they hold', () => {
    const held = new Map<string, HeldCredential>([['fe01.dublin.corp', heldAs(3, 'id-A')]])
    assert.deepEqual(planDeliveries(topology(), new Map(), held, keyIdOf), { issue: [], revoke: [] })
  })

  it('given no enabled topology, then everything held is revoked', () => {
    const held = new Map<string, HeldCredential>([['fe01.dublin.corp', heldAs(4, 'id-A')]])
    assert.deepEqual(planDeliveries(null, kvnos, held, keyIdOf), { issue: [], revoke: ['fe01.dublin.corp'] })
  })
})

describe('desiredSecret', () => {
  const now = new Date('2026-03-01T12:00:00.000Z')
  const hoursFromNow = (h: number) => new Date(now.getTime() + h * 3_600_000).toISOString()
  /** CORP\WEB confirmed at kvno 4 (sealed-4), no rotation in progress. */
  const record = (patch: Partial<AccountRecord> = {}): AccountRecord => ({
    account: 'CORP\\WEB',
    dn: 'CN=WEB,CN=Computers,DC=corp,DC=example,DC=com',
    samAccountName: 'WEB$',
    dnsHostName: 'web.corp.example.com',
    encryptionTypes: 24,
    adopted: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-02-01T00:00:00.000Z',
    secret: { sealed: 'sealed-4', kvno: 4, setAt: '2026-02-01T00:00:00.000Z' },
    pending: null,
    ...patch,
  })
  const rotating = (previousKvno: number | null, correlationId = 'rot-7') =>
    record({
      pending: {
        sealed: 'sealed-next',
        operation: 'rotate',
        previousKvno,
        startedAt: '2026-03-01T11:59:00.000Z',
        correlationId,
      },
    })

  it('given a confirmed secret and no rotation, then its kvno is active, from its sealed secret', () => {
    const result = desiredSecret(record(), now)
    assert.equal(result?.sealed, 'sealed-4')
    const { rotationId, ...rest } = result?.desired ?? {}
    assert.deepEqual(rest, { kvno: 4, phase: 'active', keep: [] })
    assert.equal(rotationId, undefined)
  })

  it('given a secret a rotation set, then it is active and names that rotation', () => {
    const result = desiredSecret(
      record({
        secret: { sealed: 'sealed-5', kvno: 5, setAt: '2026-02-01T00:00:00.000Z', rotationId: 'rot-6' },
      }),
      now,
    )
    assert.deepEqual(result, {
      desired: { kvno: 5, phase: 'active', keep: [], rotationId: 'rot-6' },
      sealed: 'sealed-5',
    })
  })

  it('given a rotate pending, then the next kvno (previous + 1) is staged from the pending secret, with the rotation id', () => {
    assert.deepEqual(desiredSecret(rotating(4), now), {
      desired: { kvno: 5, phase: 'staged', keep: [], rotationId: 'rot-7' },
      sealed: 'sealed-next',
    })
    assert.equal(
      desiredSecret(rotating(6, 'rot-8'), now)?.desired.kvno,
      7,
      'the kvno AD had when the rotation began, not the recorded secret kvno (4), is the base',
    )
    assert.equal(
      desiredSecret(rotating(null), now)?.desired.kvno,
      5,
      'without a recorded previous kvno, the confirmed one (4) is the base',
    )
  })

  it('given a reset (not a rotation) pending, then the confirmed secret stays active: nothing is staged', () => {
    const reset = record({
      pending: { sealed: 'sealed-reset', operation: 'reset', previousKvno: 4, startedAt: now.toISOString() },
    })
    const result = desiredSecret(reset, now)
    assert.equal(result?.sealed, 'sealed-4')
    assert.deepEqual([result?.desired.kvno, result?.desired.phase], [4, 'active'])
  })

  it('given a removal decided or no secret yet, then there is nothing to hold', () => {
    assert.equal(desiredSecret(record({ removing: true }), now), undefined)
    assert.equal(desiredSecret({ ...rotating(4), removing: true }, now), undefined)
    const creating = record({
      secret: null,
      pending: { sealed: 'sealed-1', operation: 'create', previousKvno: null, startedAt: now.toISOString() },
    })
    assert.equal(desiredSecret(creating, now), undefined)
  })

  it('keeps the retiring kvnos still within their ticket lifetime and drops the expired ones', () => {
    const retiring = [
      { kvno: 1, until: hoursFromNow(-2) },
      { kvno: 2, until: now.toISOString() },
      { kvno: 3, until: hoursFromNow(3) },
    ]
    assert.deepEqual(
      desiredSecret(record({ retiring }), now)?.desired.keep,
      [3],
      'kvno 1 expired two hours ago; kvno 2 expires exactly now, so its tickets are no longer valid',
    )
    assert.deepEqual(
      desiredSecret({ ...rotating(4), retiring }, now)?.desired,
      { kvno: 5, phase: 'staged', keep: [3], rotationId: 'rot-7' },
      'a staged credential carries the same keep list',
    )
  })
})
