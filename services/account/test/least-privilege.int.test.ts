import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Bus } from '@krbfleet/bus'
import {
  type AccountChange,
  AccountDriftRepaired,
  accountKey,
  accountOperations as Op,
  buckets,
  type EventEnvelope,
} from '@krbfleet/contracts'
import { accountServiceAces, type Directory } from '@krbfleet/directory'
import { createUser, type NatsServer, strongPassword, type TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import type { RunningAccountService } from '../src/start.ts'
import {
  caller,
  computerDns,
  eventsStream,
  failure,
  LogCapture,
  newKek,
  readComputer,
  startService,
  streamText,
} from './helpers.ts'

describe('least privilege: the service bound as an identity with only create-computer, reset-password and write-encryption-types on one OU', {
  timeout: 300_000,
}, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let service: RunningAccountService
  let bus: Bus
  let admin: Directory
  let call: ReturnType<typeof caller>
  const ou = 'OU=WebPools,DC=corp,DC=example,DC=com'
  const logs = new LogCapture()

  before(async () => {
    world = await startWorld({ name: 'least-privilege-test' })
    ;({ dc, nats, bus, admin } = world)
    await dc.sambaTool(['ou', 'create', ou])
    const password = strongPassword()
    const svcDn = await createUser(dc, 'svc-krbfleet', password)
    const shown = await dc.sambaTool(['user', 'show', 'svc-krbfleet', '--attributes=objectSid'])
    const sid = /objectSid: (S-[0-9-]+)/.exec(shown)?.[1]
    assert.ok(sid, `no objectSid in: ${shown}`)
    // Exactly the ACEs krbfleet documents (libs/directory delegation.ts), and nothing else.
    for (const ace of accountServiceAces(sid)) {
      await dc.sambaTool(['dsacl', 'set', `--objectdn=${ou}`, '--action=allow', `--sddl=${ace}`])
    }
    // StartTLS on 389 this time (the main test uses LDAPS).
    service = await startService(dc, nats, newKek().key, logs.logger(), {
      url: dc.ldapUrl,
      startTls: true,
      bindDn: svcDn,
      password,
    })
    call = caller(bus)
  })

  after(async () => {
    await service?.stop()
    await world?.stop()
  })

  it('creates an account inside the OU and resets its password', async () => {
    const created = await call<AccountChange>(Op.create, { account: 'CORP\\WEBPOOL1', containerDn: ou })
    assert.equal(created.dn, `CN=WEBPOOL1,${ou}`)
    const ad = await readComputer(admin, dc.baseDn, 'WEBPOOL1$')
    assert.equal(ad?.dn, created.dn)
    assert.equal(ad?.userAccountControl, 4096)
    assert.equal(ad?.encryptionTypes, 24)
    assert.equal(ad?.kvno, created.kvno)
    const reset = await call<AccountChange>(Op.passwordReset, { account: 'CORP\\WEBPOOL1' })
    assert.equal(reset.kvno, (created.kvno ?? 0) + 1)
    assert.equal((await readComputer(admin, dc.baseDn, 'WEBPOOL1$'))?.kvno, reset.kvno)
  })

  it('gets a clear insufficient_rights error in CN=Computers, and nothing is left behind', async () => {
    const before = await computerDns(admin, dc.baseDn)
    const err = await failure(call(Op.create, { account: 'CORP\\OUTSIDE1' }))
    assert.equal(err.code, 'insufficient_rights', err.message)
    assert.match(err.message, /CN=OUTSIDE1,CN=Computers,DC=corp,DC=example,DC=com/)
    assert.match(err.message, /lacks the right/)
    assert.deepEqual(await computerDns(admin, dc.baseDn), before)
    // The pending secret recorded before the AD write was dropped with the failed write.
    const kv = await bus.kv(buckets.accounts)
    const entry = await kv.get(accountKey('CORP\\OUTSIDE1'))
    assert.ok(entry === null || entry.operation !== 'PUT')
  })

  it('restores encryption types changed by hand on an account it created, and announces it', async () => {
    const created = await call<AccountChange>(Op.create, { account: 'CORP\\WEBPOOL2', containerDn: ou })
    await admin.modify(created.dn, {
      operation: 'replace',
      attribute: 'msDS-SupportedEncryptionTypes',
      values: ['4'],
    })
    assert.equal((await readComputer(admin, dc.baseDn, 'WEBPOOL2$'))?.encryptionTypes, 4)
    assert.equal(await service.service.repairDrift(), 1)
    assert.equal((await readComputer(admin, dc.baseDn, 'WEBPOOL2$'))?.encryptionTypes, 24)
    assert.equal(await service.service.repairDrift(), 0, 'nothing left to repair')
    const repairs = (await streamText(bus, eventsStream))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as EventEnvelope)
      .filter((e) => AccountDriftRepaired.is(e) && e.data.account === 'CORP\\WEBPOOL2')
    assert.deepEqual(
      repairs.map((e) => [e.data, e.actor]),
      [
        [
          { account: 'CORP\\WEBPOOL2', attribute: 'msDS-SupportedEncryptionTypes', found: 4, restored: 24 },
          'service:account',
        ],
      ],
    )
    await call(Op.remove, { account: 'CORP\\WEBPOOL2' })
  })

  it('removes the account it created (delete-child right on the OU)', async () => {
    await call(Op.remove, { account: 'CORP\\WEBPOOL1' })
    assert.equal(await readComputer(admin, dc.baseDn, 'WEBPOOL1$'), undefined)
  })
})
