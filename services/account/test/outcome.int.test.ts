import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Bus } from '@krbfleet/bus'
import {
  accountKey,
  buckets,
  type EventEnvelope,
  KerberosAccountCreated,
  KerberosAccountRemoved,
  PasswordReset,
} from '@krbfleet/contracts'
import { connectDirectory, type Directory } from '@krbfleet/directory'
import { deriveAccountKeys, writeKeytabFile } from '@krbfleet/kerberos'
import { silentLogger } from '@krbfleet/logging'
import { kerberosEnv, type NatsServer, type TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import type { KV } from '@nats-io/kv'
import { LdapAccountDirectory } from '../src/adapters/ldap/account-directory.ts'
import { KekSecretBox, KvAccountStore } from '../src/adapters/nats/account-store.ts'
import { KvTopologyAssignments } from '../src/adapters/nats/topology-assignments.ts'
import { type AccountRecord, AccountRecordCodec } from '../src/domain/record.ts'
import type { AccountDirectory } from '../src/ports.ts'
import { AccountService } from '../src/service.ts'
import { eventsStream, failure, newKek, readComputer, run, streamText } from './helpers.ts'

/**
 * The saga's edges, against a real Samba DC and a real NATS server:
 * an AD write whose outcome is unknown keeps its pending secret (the DC may have applied it), a
 * definite refusal withdraws it, and every account event is announced exactly once even when the
 * bus fails between the write and the publish.
 */
describe('account saga: unknown outcomes and owed events', { timeout: 300_000 }, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let bus: Bus
  let kv: KV
  let serviceDirectory: Directory
  let admin: Directory
  let service: AccountService
  let work: string
  const kek = newKek()
  /** Runs before the real setPassword of the service's directory (fault injection at the port). */
  let beforeSetPassword: ((dn: string) => Promise<void>) | undefined
  /** Runs before the real publish of the service's event sink. */
  let beforePublish: (() => Promise<void>) | undefined

  const record = async (account: string): Promise<AccountRecord | undefined> => {
    const entry = await kv.get(accountKey(account))
    return entry?.operation === 'PUT' ? AccountRecordCodec.decode(entry.json()) : undefined
  }
  const events = async (): Promise<EventEnvelope[]> =>
    (await streamText(bus, eventsStream))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as EventEnvelope)
  const eventsOf = async (type: string, account: string) =>
    (await events()).filter((e) => e.type === type && (e.data as { account: string }).account === account)

  /** A keytab made from the sealed secret in KV gets a ticket: KV's secret is AD's password. */
  const secretWorks = async (account: string, sam: string) => {
    const current = await record(account)
    assert.ok(current?.secret, `${account} has a confirmed secret`)
    const password = new KekSecretBox(kek.key).open(account, current.secret.sealed)
    const path = join(work, `${sam}.keytab`)
    await writeKeytabFile(
      path,
      deriveAccountKeys({
        password,
        realm: dc.realm,
        samAccountName: sam,
        dnsDomain: dc.dnsDomain,
        kvno: current.secret.kvno,
      }),
    )
    await chmod(path, 0o600)
    const env = { ...process.env, ...kerberosEnv(dc), KRB5CCNAME: `FILE:${join(work, `cc-${sam}`)}` }
    await run('kinit', ['-k', '-t', path, sam], { env })
  }

  before(async () => {
    world = await startWorld({ name: 'outcome-test' })
    ;({ dc, nats, bus, admin } = world)
    work = await mkdtemp(join(tmpdir(), 'krbfleet-account-outcome-'))
    kv = await bus.kv(buckets.accounts)
    // An operation timeout shorter than the 10 s default, so a stopped DC turns into "no answer"
    // soon, yet long enough for a Samba commit on a slow, loaded machine (it applies to every call here).
    serviceDirectory = await connectDirectory({
      url: dc.ldapsUrl,
      caFile: dc.caFile,
      servername: dc.tlsServername,
      bindDn: dc.adminDn,
      password: dc.adminPassword,
      timeoutMs: 5000,
    })
    const real = new LdapAccountDirectory(serviceDirectory, dc.baseDn)
    const directory: AccountDirectory = {
      get encrypted() {
        return real.encrypted
      },
      findAccount: (sam) => real.findAccount(sam),
      containerExists: (dn) => real.containerExists(dn),
      listMarked: () => real.listMarked(),
      createAccount: (dn, attributes, password) => real.createAccount(dn, attributes, password),
      modifyAccount: (dn, attributes) => real.modifyAccount(dn, attributes),
      async setPassword(dn, password) {
        await beforeSetPassword?.(dn)
        await real.setPassword(dn, password)
      },
      readKvno: (dn) => real.readKvno(dn),
      deleteAccount: (dn) => real.deleteAccount(dn),
      ping: () => real.ping(),
    }
    service = new AccountService({
      domain: { netbiosDomain: dc.netbiosDomain, dnsDomain: dc.dnsDomain, baseDn: dc.baseDn },
      directory,
      store: new KvAccountStore(kv),
      secrets: new KekSecretBox(kek.key),
      events: {
        async publish(envelope) {
          await beforePublish?.()
          return await bus.publish(envelope)
        },
      },
      spns: { desiredSpns: async () => null },
      assignments: new KvTopologyAssignments(await bus.kv(buckets.topology)),
      logger: silentLogger(),
      randomBytes,
      maxPasswordAgeDays: 30,
    })
  })

  after(async () => {
    if (dc?.pid) process.kill(dc.pid, 'SIGCONT')
    await serviceDirectory?.close().catch(() => {})
    await world?.stop()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('a DC that stops answering mid-reset keeps the pending secret; recovery makes KV agree with AD', async () => {
    const ctx = { actor: 'user:test' }
    await service.create({ account: 'CORP\\VANISH' }, ctx)
    const before = await record('CORP\\VANISH')
    assert.ok(before?.secret)
    const pid = dc.pid
    assert.ok(pid)
    // The DC freezes with the unicodePwd replace in its socket buffer: the client times out,
    // and when the DC wakes up it applies the write nobody waits for any more.
    beforeSetPassword = async () => {
      process.kill(pid, 'SIGSTOP')
    }
    let error: Awaited<ReturnType<typeof failure>>
    try {
      error = await failure(service.resetPassword({ account: 'CORP\\VANISH' }, ctx))
    } finally {
      beforeSetPassword = undefined
      process.kill(pid, 'SIGCONT')
    }
    assert.equal(error.code, 'unavailable')
    assert.match(error.message, /outcome .* unknown/)
    assert.match(error.message, /reconciled/)
    const kept = await record('CORP\\VANISH')
    assert.ok(kept?.pending, 'the pending secret is kept for recovery')
    assert.equal(kept.pending.previousKvno, before.secret.kvno)
    assert.equal(kept.secret?.kvno, before.secret.kvno)

    // The woken DC applies the buffered write when its event loop gets to the old socket: poll
    // (bounded tries, no clock in the assertion) until AD's kvno moves.
    let ad = await readComputer(admin, dc.baseDn, 'VANISH$')
    for (let tries = 0; tries < 200 && ad?.kvno === before.secret.kvno; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 25))
      ad = await readComputer(admin, dc.baseDn, 'VANISH$')
    }
    assert.equal(ad?.kvno, before.secret.kvno + 1, 'the frozen DC applied the write after waking up')

    assert.equal(await service.recoverPending(0), 2, 'the pending secret settled and its event published')
    const after = await record('CORP\\VANISH')
    assert.equal(after?.pending, null)
    assert.equal(after?.secret?.kvno, ad?.kvno)
    await secretWorks('CORP\\VANISH', 'VANISH$')
    const resets = await eventsOf(PasswordReset.type, 'CORP\\VANISH')
    assert.deepEqual(
      resets.map((e) => [e.data, e.actor]),
      [[{ account: 'CORP\\VANISH', kvno: ad?.kvno, reason: 'reset by user:test' }, 'user:test']],
    )
  })

  it('a definite refusal by the DC withdraws the pending secret and keeps the old one', async () => {
    const ctx = { actor: 'user:test' }
    await service.create({ account: 'CORP\\REFUSED' }, ctx)
    const before = await record('CORP\\REFUSED')
    assert.ok(before?.secret)
    // The object vanishes between the service's read and its write: the DC answers
    // noSuchObject (32), a refusal with a result code.
    beforeSetPassword = async (dn) => {
      await admin.delete(dn)
    }
    let error: Awaited<ReturnType<typeof failure>>
    try {
      error = await failure(service.resetPassword({ account: 'CORP\\REFUSED' }, ctx))
    } finally {
      beforeSetPassword = undefined
    }
    assert.equal(error.code, 'not_found')
    const after = await record('CORP\\REFUSED')
    assert.equal(after?.pending, null)
    assert.deepEqual(after?.secret, before.secret)
    assert.equal((await eventsOf(PasswordReset.type, 'CORP\\REFUSED')).length, 0)
  })

  it('NATS gone between the confirm and the publish: the event is owed in the record and published once by the sweep', async () => {
    const ctx = { actor: 'user:test' }
    await service.create({ account: 'CORP\\OWED' }, ctx)
    const created = await eventsOf(KerberosAccountCreated.type, 'CORP\\OWED')
    assert.equal(created.length, 1)
    assert.equal((await record('CORP\\OWED'))?.outbox, undefined, 'published events leave the outbox')

    // The JetStream publish fails after the KV confirm: NATS stops exactly then.
    beforePublish = async () => {
      beforePublish = undefined
      await nats.kill()
    }
    let kvno: number | null
    try {
      kvno = (await service.resetPassword({ account: 'CORP\\OWED' }, ctx)).kvno
    } finally {
      beforePublish = undefined
      await nats.start()
    }
    await connected(bus)
    assert.ok(kvno, 'the reset itself succeeded')
    const owed = await record('CORP\\OWED')
    assert.equal(owed?.secret?.kvno, kvno)
    assert.equal(owed?.outbox?.length, 1, 'the event is owed')
    assert.equal((await eventsOf(PasswordReset.type, 'CORP\\OWED')).length, 0)

    assert.ok((await service.recoverPending(0)) >= 1)
    assert.equal((await record('CORP\\OWED'))?.outbox, undefined)
    // A second sweep and a republish of the same envelope change nothing on the stream.
    await service.recoverPending(0)
    const owedEnvelope = owed?.outbox?.[0] as EventEnvelope
    assert.equal((await bus.publish(owedEnvelope)).duplicate, true)
    const resets = await eventsOf(PasswordReset.type, 'CORP\\OWED')
    assert.equal(resets.length, 1)
    assert.equal((resets[0]?.data as { kvno: number } | undefined)?.kvno, kvno)
  })

  it('a removal interrupted after the AD delete (NATS gone) is finished by the sweep: one event, no record', async () => {
    const ctx = { actor: 'user:test' }
    await service.create({ account: 'CORP\\GONE' }, ctx)
    beforePublish = async () => {
      beforePublish = undefined
      await nats.kill()
    }
    let error: Awaited<ReturnType<typeof failure>>
    try {
      error = await failure(service.remove({ account: 'CORP\\GONE' }, ctx))
    } finally {
      beforePublish = undefined
      await nats.start()
    }
    await connected(bus)
    assert.equal(error.code, 'unavailable')
    assert.match(error.message, /recorded but not finished/)
    assert.equal(await readComputer(admin, dc.baseDn, 'GONE$'), undefined, 'AD object deleted')
    assert.equal((await record('CORP\\GONE'))?.removing, true, 'the decision is recorded')
    assert.equal((await eventsOf(KerberosAccountRemoved.type, 'CORP\\GONE')).length, 0)

    assert.ok((await service.recoverPending(0)) >= 1)
    await service.recoverPending(0)
    assert.equal(await record('CORP\\GONE'), undefined)
    const removed = await eventsOf(KerberosAccountRemoved.type, 'CORP\\GONE')
    assert.equal(removed.length, 1)
    assert.equal(removed[0]?.actor, 'user:test')
  })

  it('refuses to remove an account the ENABLED topology assigns, naming the sites, unless forced', async () => {
    const ctx = { actor: 'user:test' }
    await service.create({ account: 'CORP\\ASSIGNED' }, ctx)
    const topology = await bus.kv(buckets.topology)
    const revision = (n: number, assignments: { site: string; account: string }[]) => ({
      revision: n,
      enabledAt: new Date().toISOString(),
      enabledBy: 'user:test',
      topology: {
        sites: [{ name: 'site-a' }, { name: 'site-b' }],
        pools: [],
        servers: [],
        assignments,
        agents: [],
      },
    })
    // Revision 1 assigned it nowhere; the draft may differ: only the ENABLED revision counts.
    await topology.put('revision.1', JSON.stringify(revision(1, [])))
    await topology.put(
      'revision.2',
      JSON.stringify(
        revision(2, [
          { site: 'site-b', account: 'CORP\\ASSIGNED' },
          { site: 'site-a', account: 'CORP\\ASSIGNED' },
          { site: 'site-c', account: 'CORP\\OTHER' },
        ]),
      ),
    )
    await topology.put('enabled', '1')
    const plan = await service.remove({ account: 'CORP\\ASSIGNED', dryRun: true }, ctx)
    assert.equal(plan.action, 'remove')

    await topology.put('enabled', '2')
    for (const dryRun of [true, false]) {
      const error = await failure(service.remove({ account: 'corp\\assigned', dryRun }, ctx))
      assert.equal(error.code, 'rule_violation')
      assert.equal(error.field, 'account')
      assert.match(error.message, /assigned to sites site-a, site-b in the enabled topology/)
      assert.match(error.message, /--force/)
    }
    assert.ok(await readComputer(admin, dc.baseDn, 'ASSIGNED$'), 'still in AD')
    const kept = await record('CORP\\ASSIGNED')
    assert.ok(kept?.secret && !kept.removing, 'record untouched')
    assert.equal((await eventsOf(KerberosAccountRemoved.type, 'CORP\\ASSIGNED')).length, 0)

    const change = await service.remove({ account: 'CORP\\ASSIGNED', force: true }, ctx)
    assert.equal(change.dryRun, false)
    assert.equal(await readComputer(admin, dc.baseDn, 'ASSIGNED$'), undefined)
    assert.equal(await record('CORP\\ASSIGNED'), undefined)
    assert.equal((await eventsOf(KerberosAccountRemoved.type, 'CORP\\ASSIGNED')).length, 1)
  })
})

/** Waits (no deadline of its own: the test's timeout bounds it) until the client reconnected. */
async function connected(bus: Bus): Promise<void> {
  while (!bus.isConnected()) await new Promise((resolve) => setTimeout(resolve, 50))
}
