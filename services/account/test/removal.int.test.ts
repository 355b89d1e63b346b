import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
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
import type { Directory } from '@krbfleet/directory'
import type { NatsServer, TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import type { KV } from '@nats-io/kv'
import { LdapAccountDirectory } from '../src/adapters/ldap/account-directory.ts'
import { KekSecretBox, KvAccountStore } from '../src/adapters/nats/account-store.ts'
import { KvTopologyAssignments } from '../src/adapters/nats/topology-assignments.ts'
import { type AccountRecord, AccountRecordCodec } from '../src/domain/record.ts'
import { AccountService } from '../src/service.ts'
import {
  adminDirectory,
  eventsStream,
  failure,
  LogCapture,
  newKek,
  readComputer,
  streamText,
} from './helpers.ts'

/**
 * Interrupted removals, against a real Samba DC and a real NATS server: an interrupted removal
 * must never reach into a later life of the account (a create between the decision and the
 * sweep), and one bad record must not stop the recovery sweep.
 */
describe('account removal: interrupted removals and the sweep', { timeout: 300_000 }, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let bus: Bus
  let kv: KV
  let admin: Directory
  let service: AccountService
  const logs = new LogCapture()
  const kek = newKek()
  /** Runs before the real publish of the service's event sink (fault injection at the port). */
  let beforePublish: (() => Promise<void>) | undefined

  const record = async (account: string): Promise<AccountRecord | undefined> => {
    const entry = await kv.get(accountKey(account))
    return entry?.operation === 'PUT' ? AccountRecordCodec.decode(entry.json()) : undefined
  }
  const eventsFor = async (account: string): Promise<EventEnvelope[]> =>
    (await streamText(bus, eventsStream))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as EventEnvelope)
      .filter((e) => (e.data as { account?: string }).account === account)

  /** The remove's AD delete succeeds, then NATS dies before the Removed event is published. */
  const interruptedRemove = async (account: string) => {
    beforePublish = async () => {
      beforePublish = undefined
      await nats.kill()
    }
    let error: Awaited<ReturnType<typeof failure>>
    try {
      error = await failure(service.remove({ account }, { actor: 'user:test' }))
    } finally {
      beforePublish = undefined
      await nats.start()
    }
    while (!bus.isConnected()) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(error.code, 'unavailable')
    assert.match(error.message, /recorded but not finished/)
    assert.equal((await record(account))?.removing, true, 'the decision is recorded')
  }

  before(async () => {
    world = await startWorld({ name: 'removal-test' })
    ;({ dc, nats, bus, admin } = world)
    kv = await bus.kv(buckets.accounts)
    const serviceDirectory = await adminDirectory(dc)
    service = new AccountService({
      domain: { netbiosDomain: dc.netbiosDomain, dnsDomain: dc.dnsDomain, baseDn: dc.baseDn },
      directory: new LdapAccountDirectory(serviceDirectory, dc.baseDn),
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
      logger: logs.logger(),
      randomBytes,
      maxPasswordAgeDays: 30,
    })
  })

  after(async () => {
    await world?.stop()
  })

  it('a create after an interrupted removal survives the sweep, and both Created events are on the stream', async () => {
    const ctx = { actor: 'user:test' }
    const first = await service.create({ account: 'CORP\\AGAIN' }, ctx)
    const firstLife = (await record('CORP\\AGAIN'))?.createdAt
    await interruptedRemove('CORP\\AGAIN')
    assert.equal(await readComputer(admin, dc.baseDn, 'AGAIN$'), undefined, 'the AD delete happened')

    // The operator creates the account again: the service finishes the decided removal first.
    const second = await service.create({ account: 'CORP\\AGAIN' }, ctx)
    assert.ok(second.kvno)
    const fresh = await record('CORP\\AGAIN')
    assert.equal(fresh?.removing, undefined)
    assert.equal(fresh?.removalTarget, undefined)
    assert.equal(fresh?.outbox, undefined, 'nothing owed: both events were published')
    assert.notEqual(fresh?.createdAt, firstLife, 'a new life')

    assert.equal(await service.recoverPending(0), 0, 'nothing left for the sweep')
    await service.recoverPending(0)
    const ad = await readComputer(admin, dc.baseDn, 'AGAIN$')
    assert.ok(ad, 'the new AD object survives the sweep')
    const kept = await record('CORP\\AGAIN')
    assert.equal(kept?.secret?.kvno, ad.kvno, 'the record holds the new object secret')
    assert.equal(kept?.dn, first.dn)

    const events = await eventsFor('CORP\\AGAIN')
    assert.deepEqual(
      events.map((e) => e.type),
      [KerberosAccountCreated.type, KerberosAccountRemoved.type, KerberosAccountCreated.type],
    )
    assert.equal(new Set(events.map((e) => e.id)).size, 3, 'every event has its own id')
  })

  it('a reset after an interrupted removal finishes the removal and answers not found', async () => {
    const ctx = { actor: 'user:test' }
    await service.create({ account: 'CORP\\RESETGONE' }, ctx)
    await interruptedRemove('CORP\\RESETGONE')
    const error = await failure(service.resetPassword({ account: 'CORP\\RESETGONE' }, ctx))
    assert.equal(error.code, 'not_found')
    assert.equal(await record('CORP\\RESETGONE'), undefined, 'the removal was finished')
    assert.deepEqual(
      (await eventsFor('CORP\\RESETGONE')).map((e) => e.type),
      [KerberosAccountCreated.type, KerberosAccountRemoved.type],
    )
  })

  it('the sweep deletes only the AD object the removal decided on, not a later one under the same name', async () => {
    const ctx = { actor: 'user:test' }
    const created = await service.create({ account: 'CORP\\LATER' }, ctx)
    const now = await kv.get(accountKey('CORP\\LATER'))
    assert.ok(now)
    // A removal decided about an EARLIER object under this name (another GUID), finished later.
    const decided: AccountRecord = {
      ...AccountRecordCodec.decode(now.json()),
      removing: true,
      removalTarget: { dn: created.dn, objectGuid: '00'.repeat(16) },
      outbox: [
        KerberosAccountRemoved.create(
          { account: 'CORP\\LATER', dn: created.dn },
          { actor: 'user:test', id: 'account-removed-test-later' },
        ),
      ],
    }
    await kv.update(accountKey('CORP\\LATER'), JSON.stringify(decided), now.revision)
    assert.ok((await service.recoverPending(0)) >= 1)
    assert.ok(await readComputer(admin, dc.baseDn, 'LATER$'), 'the later object is left alone')
    assert.equal(await record('CORP\\LATER'), undefined, 'the decided removal is finished')
    assert.match(logs.text(), /not the one whose removal was decided/)
  })

  it('one bad record does not stop the sweep: the others are settled, the failures logged without secrets', async () => {
    const ctx = { actor: 'user:test' }
    // A record that does not decode at all.
    await kv.put(accountKey('CORP\\ABROKEN'), JSON.stringify({ account: 'CORP\\ABROKEN', secret: 42 }))
    // A record whose owed "event" the bus refuses (a damaged outbox entry).
    const at = new Date().toISOString()
    await kv.put(
      accountKey('CORP\\ABADOUT'),
      JSON.stringify({
        account: 'CORP\\ABADOUT',
        dn: `CN=ABADOUT,CN=Computers,${dc.baseDn}`,
        samAccountName: 'ABADOUT$',
        dnsHostName: '',
        encryptionTypes: 24,
        adopted: false,
        createdAt: at,
        updatedAt: at,
        secret: null,
        pending: null,
        outbox: [{ id: 'damaged', type: 'krbfleet.nothing.Nothing.v1' }],
      } satisfies AccountRecord),
    )
    // A healthy record owing a real event, sorted after both.
    const change = await service.create({ account: 'CORP\\ZOWED' }, ctx)
    const entry = await kv.get(accountKey('CORP\\ZOWED'))
    assert.ok(entry && change.kvno)
    const healthy = AccountRecordCodec.decode(entry.json())
    const owed = PasswordReset.create(
      { account: 'CORP\\ZOWED', kvno: change.kvno, reason: 'reset by user:test' },
      { actor: 'user:test', id: 'account-reset-test-zowed' },
    )
    await kv.update(accountKey('CORP\\ZOWED'), JSON.stringify({ ...healthy, outbox: [owed] }), entry.revision)

    assert.ok((await service.recoverPending(0)) >= 1, 'the sweep went on past the bad records')
    assert.equal((await record('CORP\\ZOWED'))?.outbox, undefined, 'the owed event was published')
    assert.deepEqual(
      (await eventsFor('CORP\\ZOWED')).filter((e) => e.type === PasswordReset.type).map((e) => e.id),
      [owed.id],
    )
    assert.equal((await record('CORP\\ABADOUT'))?.outbox?.length, 1, 'the damaged entry stays for a look')
    const errors = logs.lines
      .map((l) => JSON.parse(l) as { level: number; account?: string; code?: string })
      .filter((l) => l.level >= 50)
    assert.ok(errors.some((l) => l.account === accountKey('CORP\\ABROKEN')))
    assert.ok(errors.some((l) => l.account === 'CORP\\ABADOUT' && l.code === 'invalid'))
    assert.equal(logs.text().includes(healthy.secret?.sealed ?? '<none>'), false, 'no sealed secret logged')
    // The account list still answers, leaving the unreadable record out.
    assert.ok((await service.list()).some((v) => v.account === 'CORP\\ZOWED'))
  })
})
