import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TopologyDocument } from '@krbfleet/contracts'
import { type HeldCredential, planDeliveries } from '../src/domain/deliveries.ts'

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
const kvnos = new Map([['CORP\\WEB', 4]])
const none = new Map<string, HeldCredential>()

describe('planDeliveries', () => {
  it('given an assigned site with enrolled agents, then each server gets its account kvno, the password only for iis', () => {
    const plan = planDeliveries(topology(), kvnos, none, keyIdOf)
    assert.deepEqual(plan.issue, [
      { server: 'fe01.dublin.corp', account: 'CORP\\WEB', kvno: 4, encryptionKey: keyA, withPassword: true },
      {
        server: 'fe02.dublin.corp',
        account: 'CORP\\WEB',
        kvno: 4,
        encryptionKey: keyB,
        withPassword: false,
      },
    ])
    assert.deepEqual(plan.revoke, [], 'the unassigned site holds nothing and gets nothing')
  })

  it('given the bucket already holds the same account, kvno and recipient, then nothing is reissued', () => {
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', { account: 'CORP\\WEB', kvno: 4, recipient: 'id-A' }],
      ['fe02.dublin.corp', { account: 'CORP\\WEB', kvno: 4, recipient: 'id-B' }],
    ])
    assert.deepEqual(planDeliveries(topology(), kvnos, held, keyIdOf), { issue: [], revoke: [] })
  })

  it('given a new kvno or a re-enrolled key, then the server is reissued', () => {
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', { account: 'CORP\\WEB', kvno: 3, recipient: 'id-A' }],
      ['fe02.dublin.corp', { account: 'CORP\\WEB', kvno: 4, recipient: 'id-old' }],
    ])
    const plan = planDeliveries(topology(), kvnos, held, keyIdOf)
    assert.deepEqual(
      plan.issue.map((d) => d.server),
      ['fe01.dublin.corp', 'fe02.dublin.corp'],
    )
  })

  it('given a server removed, its site unassigned or its agent without a key, then its credential is revoked', () => {
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', { account: 'CORP\\WEB', kvno: 4, recipient: 'id-A' }],
      ['fe02.dublin.corp', { account: 'CORP\\WEB', kvno: 4, recipient: 'id-B' }],
      ['gone.dublin.corp', { account: 'CORP\\WEB', kvno: 4, recipient: 'id-A' }],
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
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', { account: 'CORP\\WEB', kvno: 3, recipient: 'id-A' }],
    ])
    assert.deepEqual(planDeliveries(topology(), new Map(), held, keyIdOf), { issue: [], revoke: [] })
  })

  it('given no enabled topology, then everything held is revoked', () => {
    const held = new Map<string, HeldCredential>([
      ['fe01.dublin.corp', { account: 'CORP\\WEB', kvno: 4, recipient: 'id-A' }],
    ])
    assert.deepEqual(planDeliveries(null, kvnos, held, keyIdOf), { issue: [], revoke: ['fe01.dublin.corp'] })
  })
})
