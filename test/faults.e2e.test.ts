/**
 * Faults across services, on the whole system (test/support/system.ts): spn-sync dying at each
 * point of its write (failpoints, SIGKILL), the DC going away under running services, and two
 * spn-sync replicas sharing the work. After each fault the system must converge to exactly the
 * enabled topology, with no work lost and nothing written twice or orphaned.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  AccountDriftRepaired,
  type AccountChange,
  type AccountTestReport,
  accountKey,
  buckets,
  KerberosAccountCreated,
  SpnConflictDetected,
  SpnsReconciled,
} from '@krbfleet/contracts'
import { filter } from '@krbfleet/directory'
import { adminDirectory } from '@krbfleet/testing/world'
import { type System, startSystem, tail } from './support/system.ts'

const ACCOUNT = 'CORP\\KERBFLT'
const SAM = 'KERBFLT$'
const sorted = (values: Iterable<string>) => [...values].sort()
const same = (a: string[], b: string[]) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b))

describe('faults across services: crashes mid-write, a DC outage, replicas', { timeout: 600_000 }, () => {
  let system: System
  /** The SPNs the enabled topology wants on the account, kept by the test as the operator changes it. */
  let expected: string[] = []

  const api = async <T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    role: 'admin' | 'operator' = 'admin',
  ) => {
    const r = await system.api<T>(method, path, { role, ...(body === undefined ? {} : { body }) })
    return r
  }
  const ok = async <T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    role: 'admin' | 'operator' = 'admin',
  ) => {
    const r = await api<T>(method, path, body, role)
    assert.ok(r.status >= 200 && r.status < 300, `${method} ${path} -> ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }
  const addPool = (name: string) =>
    ok('POST', '/v1/pools', { fqdn: `${name}.corp.example.com`, site: 'paris' })
  const enable = () => ok<{ enabledRevision?: number }>('POST', '/v1/topology/enable')
  const converged = async (what: string) => {
    await system
      .eventually(async () => same(await system.spnsOf(SAM), expected), what)
      .catch(async (err) =>
        assert.fail(
          `${(err as Error).message}\nAD: ${(await system.spnsOf(SAM)).join(', ')}\nwanted: ${expected.join(', ')}\n${await tail(system.spnSyncLog)}`,
        ),
      )
    assert.deepEqual(await system.spnsOf(SAM), sorted(expected))
  }
  const ownership = async () => {
    const kv = await system.bus.kv(buckets.spnOwnership)
    const entry = await kv.get(accountKey(ACCOUNT))
    assert.ok(entry && entry.operation === 'PUT', 'an ownership record')
    return entry.json<{ spns: string[]; pending: unknown }>()
  }

  before(async () => {
    system = await startSystem()
    await ok<AccountChange>('POST', '/v1/accounts', { account: ACCOUNT })
    await ok('POST', '/v1/sites', { name: 'paris' })
    await ok('POST', '/v1/assignments', { site: 'paris', account: ACCOUNT })
    await addPool('base')
    await enable()
    expected = ['HTTP/base.corp.example.com']
    await converged('the first enable')
  })
  after(async () => {
    await system?.stop()
  })

  it('spn-sync killed after recording its intent, before the LDAP modify: the next run writes it once', async () => {
    await system.spnSync.stop()
    await system.spnSync.start({ crashAt: 'after-intent' })
    await addPool('intent')
    await enable()
    await system.spnSync.exited()
    // It died before the modify: AD is as before, the intent is pending in KV.
    assert.deepEqual(await system.spnsOf(SAM), sorted(expected))
    assert.notEqual((await ownership()).pending, null)

    await system.spnSync.start()
    expected = [...expected, 'HTTP/intent.corp.example.com']
    await converged('the pending intent applied after the restart')
    await system.eventually(async () => (await ownership()).pending === null, 'the intent confirmed')
    assert.deepEqual(sorted((await ownership()).spns), sorted(expected))
  })

  it('spn-sync killed after the LDAP modify, before confirming: the next run confirms, and owns what it wrote', async () => {
    await system.spnSync.stop()
    await system.spnSync.start({ crashAt: 'after-modify' })
    await addPool('modify')
    await enable()
    await system.spnSync.exited()
    // The modify went through, the confirmation did not.
    expected = [...expected, 'HTTP/modify.corp.example.com']
    assert.deepEqual(await system.spnsOf(SAM), sorted(expected))
    assert.notEqual((await ownership()).pending, null)

    await system.spnSync.start()
    await system.eventually(async () => (await ownership()).pending === null, 'the write confirmed')
    assert.deepEqual(sorted((await ownership()).spns), sorted(expected))
    // It owns the SPN written before the crash: removing the pool removes it (nothing orphaned).
    await ok('DELETE', '/v1/pools/modify.corp.example.com')
    await enable()
    expected = expected.filter((s) => s !== 'HTTP/modify.corp.example.com')
    await converged('the pool written before the crash removed again')
  })

  it('the DC goes away under running services: a reset is refused cleanly, a change waits, both work once it is back', async () => {
    const kvnoBefore = await system.kvnoOf(SAM)
    await system.dc.kill()
    try {
      const refused = await api<{ error: { code: string; message: string } }>(
        'POST',
        '/v1/accounts/CORP.KERBFLT/password-reset',
        undefined,
        'operator',
      )
      assert.equal(refused.status, 503, JSON.stringify(refused.body))
      assert.equal(refused.body.error.code, 'unavailable')
      await addPool('outage')
      await enable()
    } finally {
      await system.dc.start()
    }
    assert.equal(await system.kvnoOf(SAM), kvnoBefore, 'the refused reset changed nothing')
    expected = [...expected, 'HTTP/outage.corp.example.com']
    await converged('the change enabled during the outage, after the DC came back')

    const reset = await ok<AccountChange>(
      'POST',
      '/v1/accounts/CORP.KERBFLT/password-reset',
      undefined,
      'operator',
    )
    assert.equal(reset.kvno, kvnoBefore + 1)
    assert.equal(await system.kvnoOf(SAM), kvnoBefore + 1)
    assert.equal((await system.accountSecret(ACCOUNT)).kvno, kvnoBefore + 1)
    const report = await ok<AccountTestReport>(
      'POST',
      '/v1/accounts/CORP.KERBFLT/test',
      undefined,
      'operator',
    )
    assert.equal(report.outcome, 'pass', JSON.stringify(report.checks))
  })

  it('the DC stalls during `account new`: the operator is told the outcome is being reconciled, test and a retry say so, and the sweep settles it', async (t) => {
    const stalled = 'CORP\\STALL'
    const pid = system.dc.pid
    assert.ok(pid, 'the DC runs')
    // The DC freezes the moment the service has sealed the new secret as pending, i.e. just before
    // (or during) its LDAP add: whatever the DC got stays in its socket buffer until SIGCONT.
    const kv = await system.bus.kv(buckets.accounts)
    const watch = await kv.watch({ key: accountKey(stalled) })
    const frozen = (async () => {
      for await (const entry of watch) {
        if (entry.operation === 'PUT' && entry.json<{ pending: unknown }>().pending) {
          process.kill(pid, 'SIGSTOP')
          return performance.now()
        }
      }
      throw new Error('the watch ended before a pending secret was seen')
    })()
    let stoppedAt: number
    let answer: Awaited<ReturnType<System['cli']>>
    try {
      answer = await system.cli(['account', 'new', stalled])
      stoppedAt = await frozen
      // About 15 s of stall in all: past the service's LDAP timeout (10 s), so it answers first.
      await new Promise((resolve) => setTimeout(resolve, 5000))
    } finally {
      watch.stop()
      process.kill(pid, 'SIGCONT')
    }
    const resumedAt = performance.now()
    t.diagnostic(`the DC was stopped for ${Math.round((resumedAt - stoppedAt) / 1000)} s`)
    assert.notEqual(answer.code, 0, answer.stdout)
    // The account service's answer, not the console's own timeout: the console waits longer.
    assert.doesNotMatch(answer.stderr, /did not answer|504|timeout/i, answer.stderr)
    assert.match(answer.stderr, /outcome .* unknown/, answer.stderr)
    assert.match(answer.stderr, /being reconciled/, answer.stderr)
    assert.match(answer.stderr, /krbfleet account test CORP\\STALL/, answer.stderr)

    // Until the sweep settled it, neither `account test` nor a retry advises a reset or an adopt.
    const test = await system.cli(['account', 'test', stalled, '--json'], 'operator')
    const report = JSON.parse(test.stdout) as AccountTestReport
    const kvnoCheck = report.checks.find((c) => c.check === 'secret-kvno')
    assert.equal(kvnoCheck?.status, 'warn', test.stdout)
    assert.match(kvnoCheck?.detail ?? '', /being reconciled/)
    assert.doesNotMatch(test.stdout, /reset it|changed outside krbfleet/)
    const retry = await system.cli(['account', 'new', stalled])
    assert.notEqual(retry.code, 0, retry.stdout)
    assert.match(retry.stderr, /unknown outcome and is being reconciled/, retry.stderr)
    assert.doesNotMatch(retry.stderr, /already exists|use --adopt/)

    // The sweep (default settings) settles it from AD's kvno: the frozen DC applied the add.
    await system.eventually(
      async () => {
        const entry = await kv.get(accountKey(stalled))
        return entry?.operation === 'PUT' && entry.json<{ pending: unknown }>().pending === null
      },
      'the sweep settled the pending secret',
      150_000,
    )
    t.diagnostic(`settled ${Math.round((performance.now() - resumedAt) / 1000)} s after the DC came back`)
    const { kvno } = await system.accountSecret(stalled)
    assert.equal(kvno, await system.kvnoOf('STALL$'))
    const settled = await ok<AccountTestReport>('POST', '/v1/accounts/CORP.STALL/test', undefined, 'operator')
    assert.equal(
      settled.checks.find((c) => c.check === 'secret-kvno')?.status,
      'pass',
      JSON.stringify(settled),
    )
    await system.eventually(
      async () =>
        (await system.events()).some(
          (e) =>
            e.type === KerberosAccountCreated.type && (e.data as { account: string }).account === stalled,
        ),
      'the Created event the settled write owed',
    )
    const created = (await system.events()).filter(
      (e) => e.type === KerberosAccountCreated.type && (e.data as { account: string }).account === stalled,
    )
    assert.deepEqual(
      created.map((e) => (e.data as { kvno: number }).kvno),
      [kvno],
      'announced once, with the kvno AD holds',
    )
  })

  it('encryption types changed or cleared by hand are restored by the periodic sweep, announced, and account test passes again', async () => {
    const admin = await adminDirectory(system.dc)
    const typesOf = async () =>
      (await admin.findOne(system.dc.baseDn, filter.eq('sAMAccountName', SAM), {
        attributes: ['msDS-SupportedEncryptionTypes'],
      }))!.integer('msDS-SupportedEncryptionTypes')
    const repairs = async () =>
      (await system.events()).filter((e) => AccountDriftRepaired.is(e) && e.data.account === ACCOUNT)
    try {
      const dn = (await admin.findOne(system.dc.baseDn, filter.eq('sAMAccountName', SAM)))!.dn
      const edits: Array<{ change: Parameters<typeof admin.modify>[1]; found: number | null }> = [
        {
          change: { operation: 'replace', attribute: 'msDS-SupportedEncryptionTypes', values: ['4'] },
          found: 4,
        },
        {
          change: { operation: 'delete', attribute: 'msDS-SupportedEncryptionTypes', values: [] },
          found: null,
        },
      ]
      for (const [i, edit] of edits.entries()) {
        await admin.modify(dn, edit.change)
        const drifted = await ok<AccountTestReport>(
          'POST',
          '/v1/accounts/CORP.KERBFLT/test',
          undefined,
          'operator',
        )
        assert.equal(drifted.checks.find((c) => c.check === 'encryption-types')?.status, 'fail')
        // The service's own sweep (every 15 s by default), not a call of the test.
        await system.eventually(async () => (await typesOf()) === 24, 'the sweep restored the types', 90_000)
        await system.eventually(async () => (await repairs()).length === i + 1, 'the repair announced')
        assert.deepEqual((await repairs())[i]?.data, {
          account: ACCOUNT,
          attribute: 'msDS-SupportedEncryptionTypes',
          found: edit.found,
          restored: 24,
        })
        const report = await ok<AccountTestReport>(
          'POST',
          '/v1/accounts/CORP.KERBFLT/test',
          undefined,
          'operator',
        )
        assert.equal(report.outcome, 'pass', JSON.stringify(report.checks))
      }
    } finally {
      await admin.close()
    }
  })

  it('two spn-sync replicas share the work: rapid enables converge exactly in AD, without conflicts', async () => {
    const replica = system.spnSyncReplica('spn-sync-2.log')
    await replica.start()
    const conflictsBefore = (await system.events()).filter((e) => e.type === SpnConflictDetected.type).length
    for (const name of ['rep1', 'rep2', 'rep3', 'rep4']) {
      await addPool(name)
      await enable()
      expected = [...expected, `HTTP/${name}.corp.example.com`]
    }
    await ok('DELETE', '/v1/pools/rep2.corp.example.com')
    await enable()
    expected = expected.filter((s) => s !== 'HTTP/rep2.corp.example.com')
    await converged('four pools added and one removed with two replicas')
    await system.eventually(async () => (await ownership()).pending === null, 'no write left pending')
    const events = await system.events()
    assert.equal(events.filter((e) => e.type === SpnConflictDetected.type).length, conflictsBefore)
    await replica.stop()
  })

  // With two replicas, each account is reconciled by one replica at a time (spn-sync's per-account
  // lease in KV): a replica never takes another's live intent for a crash leftover, so no SPN is
  // written twice, reported twice, or left in AD outside every ownership record.
  it('two spn-sync replicas: every SPN is written and reported once, and every SPN written is owned', async () => {
    assert.deepEqual(sorted((await ownership()).spns), sorted(expected))
    const reconciled = (await system.events()).filter((e) => e.type === SpnsReconciled.type)
    const added = reconciled.flatMap((e) => (e.data as { added: string[] }).added)
    for (const name of ['rep1', 'rep3', 'rep4']) {
      assert.equal(
        added.filter((s) => s === `HTTP/${name}.corp.example.com`).length,
        1,
        `HTTP/${name} added more than once:\n${reconciled.map((e) => JSON.stringify(e.data)).join('\n')}`,
      )
    }
  })
})
