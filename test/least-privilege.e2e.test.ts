/**
 * The whole system with least-privilege identities (ARCHITECTURE, security rules; lab/NOTES.md):
 * the account service binds (StartTLS) as a user that may only create computer objects and reset
 * their passwords in one OU, spn-sync (its real main.ts) as a user that may only write
 * servicePrincipalName on computer objects of that OU. The operator's flow works end to end inside
 * the OU; outside it each service is refused by the DC, says so clearly, and changes nothing, and
 * one account spn-sync may not write does not hold up the others.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { AccountChange, AccountTestReport, SpnPlan } from '@krbfleet/contracts'
import { accountServiceAces, connectDirectory, spnSyncAces } from '@krbfleet/directory'
import { adminClient, createUser, strongPassword, type TestDc } from '@krbfleet/testing'
import { type System, startSystem, tail } from './support/system.ts'

const ou = 'OU=WebPools,DC=corp,DC=example,DC=com'

async function sidOf(dc: TestDc, user: string): Promise<string> {
  const shown = await dc.sambaTool(['user', 'show', user, '--attributes=objectSid'])
  const sid = /objectSid: (S-[0-9-]+)/.exec(shown)?.[1]
  assert.ok(sid, `no objectSid in: ${shown}`)
  return sid
}

async function allow(dc: TestDc, sddl: string): Promise<void> {
  await dc.sambaTool(['dsacl', 'set', `--objectdn=${ou}`, '--action=allow', `--sddl=${sddl}`])
}

const sorted = (values: Iterable<string>) => [...values].sort()

describe('least privilege: each service with only its own rights on one OU', { timeout: 600_000 }, () => {
  let system: System

  before(async () => {
    system = await startSystem({
      identities: async (dc) => {
        await dc.sambaTool(['ou', 'create', ou])
        const accountPassword = strongPassword()
        const spnPassword = strongPassword()
        const accountDn = await createUser(dc, 'svc-account', accountPassword)
        const spnDn = await createUser(dc, 'svc-spnsync', spnPassword)
        const accountSid = await sidOf(dc, 'svc-account')
        const spnSid = await sidOf(dc, 'svc-spnsync')
        // Exactly the ACEs krbfleet documents (libs/directory delegation.ts), nothing else.
        for (const ace of accountServiceAces(accountSid)) await allow(dc, ace)
        for (const ace of spnSyncAces(spnSid)) await allow(dc, ace)
        return {
          account: { bindDn: accountDn, password: accountPassword, containerDn: ou, startTls: true },
          spnSync: { bindDn: spnDn, password: spnPassword },
        }
      },
    })
  })
  after(async () => {
    await system?.stop()
  })

  const cli = async (args: string[], role: 'admin' | 'operator' | 'viewer' = 'admin') => {
    const result = await system.cli(args, role)
    assert.equal(
      result.code,
      0,
      `krbfleet ${args.join(' ')} -> ${result.code}\n${result.stdout}${result.stderr}`,
    )
    return result
  }
  const converged = async (sam: string, expected: string[], what: string) => {
    await system
      .eventually(
        async () => JSON.stringify(await system.spnsOf(sam)) === JSON.stringify(sorted(expected)),
        what,
      )
      .catch(async (err) =>
        assert.fail(
          `${(err as Error).message}\nAD: ${(await system.spnsOf(sam)).join(', ')}\n${await tail(system.spnSyncLog)}`,
        ),
      )
  }

  it('inside the OU the operator flow works end to end: account, SPNs, reset, test', async () => {
    const created = JSON.parse(
      (await cli(['account', 'new', 'CORP\\KERBLP', '--json'])).stdout,
    ) as AccountChange
    assert.equal(created.dn, `CN=KERBLP,${ou}`)
    await cli(['site', 'add', 'oslo'])
    await cli([
      'pool',
      'add',
      'lp01.corp.example.com',
      '--site',
      'oslo',
      '--load-balancer',
      'lp01-lb.corp.example.com',
    ])
    await cli(['assignment', 'new', 'oslo', 'CORP\\KERBLP'])
    await cli(['topology', 'enable'])
    await converged(
      'KERBLP$',
      ['HTTP/lp01-lb.corp.example.com', 'HTTP/lp01.corp.example.com'],
      'spn-sync writes the SPNs with only the SPN write right',
    )
    const kvno = await system.kvnoOf('KERBLP$')
    const reset = await system.api<AccountChange>('POST', '/v1/accounts/CORP.KERBLP/password-reset', {
      role: 'operator',
    })
    assert.equal(reset.status, 200, JSON.stringify(reset.body))
    assert.equal(await system.kvnoOf('KERBLP$'), kvno + 1)
    assert.equal((await system.accountSecret('CORP\\KERBLP')).kvno, kvno + 1)
    const report = JSON.parse((await cli(['test', 'account', 'CORP\\KERBLP', '--json'], 'operator')).stdout)
    assert.equal((report as AccountTestReport).outcome, 'pass', JSON.stringify(report))
  })

  it('outside the OU the account service is refused with insufficient rights and nothing is created', async () => {
    const result = await system.cli([
      'account',
      'new',
      'CORP\\OUTSIDE',
      '--container-dn',
      'CN=Computers,DC=corp,DC=example,DC=com',
    ])
    assert.equal(result.code, 1, result.stdout)
    assert.match(result.stderr, /insufficient_rights|insufficient rights|access/i)
    const client = await adminClient(system.dc)
    try {
      const { searchEntries } = await client.search(system.dc.baseDn, {
        filter: '(sAMAccountName=OUTSIDE$)',
        attributes: ['dn'],
      })
      assert.equal(searchEntries.length, 0)
    } finally {
      await client.unbind()
    }
    const list = await system.api<{ accounts: Array<{ account: string }> }>('GET', '/v1/accounts', {
      role: 'viewer',
    })
    assert.deepEqual(
      list.body.accounts.map((a) => a.account),
      ['CORP\\KERBLP'],
    )
  })

  it('an account outside its OU is left alone by spn-sync; the accounts it may write still converge', async () => {
    // A computer account made by hand in CN=Computers, where spn-sync has no right to write.
    const admin = await connectDirectory({
      url: system.dc.ldapsUrl,
      caFile: system.dc.caFile,
      servername: system.dc.tlsServername,
      bindDn: system.dc.adminDn,
      password: system.dc.adminPassword,
    })
    try {
      await admin.add('CN=HANDWEB,CN=Computers,DC=corp,DC=example,DC=com', {
        objectClass: ['top', 'person', 'organizationalPerson', 'user', 'computer'],
        sAMAccountName: 'HANDWEB$',
        userAccountControl: '4096',
      })
    } finally {
      await admin.close()
    }
    await cli(['site', 'add', 'bergen'])
    await cli(['pool', 'add', 'hand01.corp.example.com', '--site', 'bergen'])
    await cli(['assignment', 'new', 'bergen', 'CORP\\HANDWEB'])
    await cli(['pool', 'add', 'lp02.corp.example.com', '--site', 'oslo'])
    await cli(['topology', 'enable'])
    await converged(
      'KERBLP$',
      ['HTTP/lp01-lb.corp.example.com', 'HTTP/lp01.corp.example.com', 'HTTP/lp02.corp.example.com'],
      'the writable account converges',
    )
    assert.deepEqual(await system.spnsOf('HANDWEB$'), [])
    // The plan still shows the write spn-sync could not do, for an operator to act on.
    const plan = JSON.parse((await cli(['spn', 'plan', '--json'], 'viewer')).stdout) as SpnPlan
    const hand = plan.accounts.find((a) => a.account === 'CORP\\HANDWEB')
    assert.deepEqual(hand?.add, ['HTTP/hand01.corp.example.com'])
    assert.match(await tail(system.spnSyncLog, 10_000), /insufficient|access/i)
  })
})
