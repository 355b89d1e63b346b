import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { accountsOf, desiredSpns, desiredSpnsOf, poolSpns } from '../src/domain/index.ts'
import { pool, revision } from './fixtures.ts'

describe('desiredSpns', () => {
  it('given a web pool with every kind of name, when computed, then each name gets HTTP/<name>', () => {
    const rev = revision(
      1,
      [
        pool({
          fqdn: 'pool01.corp.example.com',
          site: 'dublin',
          internalWebFqdn: 'web-int.corp.example.com',
          externalWebFqdn: 'web.example.com',
          loadBalancerNames: ['lb1.corp.example.com', 'lb2.corp.example.com'],
          aliases: ['meet.example.com'],
        }),
      ],
      { dublin: 'CORP\\KERBAUTH' },
    )
    const desired = desiredSpns(rev)
    assert.deepEqual([...desired.keys()], ['CORP\\KERBAUTH'])
    assert.deepEqual(desired.get('CORP\\KERBAUTH')?.sorted(), [
      'HTTP/lb1.corp.example.com',
      'HTTP/lb2.corp.example.com',
      'HTTP/meet.example.com',
      'HTTP/pool01.corp.example.com',
      'HTTP/web-int.corp.example.com',
      'HTTP/web.example.com',
    ])
  })

  it('given shortNameSpns, then the first label of every name is added, once', () => {
    const spns = poolSpns(
      pool({
        fqdn: 'pool01.corp.example.com',
        site: 's',
        internalWebFqdn: 'pool01.other.example.com',
        aliases: ['intranet'],
        shortNameSpns: true,
      }),
    )
    assert.deepEqual(spns.sorted(), [
      'HTTP/intranet',
      'HTTP/pool01',
      'HTTP/pool01.corp.example.com',
      'HTTP/pool01.other.example.com',
    ])
  })

  it('given a pool without WebServices, then it contributes nothing but its account is still listed', () => {
    const rev = revision(2, [pool({ fqdn: 'edge.corp.example.com', site: 'edge', webServices: false })], {
      edge: 'CORP\\EDGE',
    })
    assert.equal(desiredSpns(rev).get('CORP\\EDGE')?.size, 0)
    assert.deepEqual(accountsOf(rev), ['CORP\\EDGE'])
  })

  it('given one account serving two sites, then it holds the SPNs of both; an unassigned site gives none', () => {
    const rev = revision(
      3,
      [
        pool({ fqdn: 'a.corp.example.com', site: 'one' }),
        pool({ fqdn: 'b.corp.example.com', site: 'two' }),
        pool({ fqdn: 'c.corp.example.com', site: 'three' }),
      ],
      { one: 'CORP\\KA', two: 'corp\\ka' },
    )
    const desired = desiredSpns(rev)
    assert.deepEqual([...desired.keys()], ['CORP\\KA'])
    assert.deepEqual(desired.get('CORP\\KA')?.sorted(), [
      'HTTP/a.corp.example.com',
      'HTTP/b.corp.example.com',
    ])
    assert.equal(desiredSpnsOf(rev, 'CORP\\OTHER').size, 0)
    assert.equal(desiredSpnsOf(null, 'CORP\\KA').size, 0)
  })

  it('given names in mixed case or with a trailing dot, then the host part is canonical lower case', () => {
    const spns = poolSpns(
      pool({ fqdn: 'Pool01.Corp.Example.COM.', site: 's', aliases: ['POOL01.corp.example.com'] }),
    )
    assert.deepEqual(spns.sorted(), ['HTTP/pool01.corp.example.com'])
  })
})
