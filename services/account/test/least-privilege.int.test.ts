import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Bus } from '@krbfleet/bus'
import { type AccountChange, accountKey, accountOperations as Op, buckets } from '@krbfleet/contracts'
import type { Directory } from '@krbfleet/directory'
import { createUser, type NatsServer, strongPassword, type TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import type { RunningAccountService } from '../src/start.ts'
import { caller, computerDns, failure, LogCapture, newKek, readComputer, startService } from './helpers.ts'

/** Computer object class (MS-ADSC) and the Reset Password extended right (MS-ADTS 5.1.3.2.1). */
const computerClass = 'bf967a86-0de6-11d0-a285-00aa003049e2'
const resetPasswordRight = '00299570-246d-11d0-a768-00aa006e0529'

describe('least privilege: the service bound as an identity with only create-computer and reset-password on one OU', {
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
    // The two ACEs of lab/NOTES.md, and nothing else.
    await dc.sambaTool([
      'dsacl',
      'set',
      `--objectdn=${ou}`,
      '--action=allow',
      `--sddl=(OA;CI;CCDC;${computerClass};;${sid})`,
    ])
    await dc.sambaTool([
      'dsacl',
      'set',
      `--objectdn=${ou}`,
      '--action=allow',
      `--sddl=(OA;CIIO;CR;${resetPasswordRight};${computerClass};${sid})`,
    ])
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

  it('removes the account it created (delete-child right on the OU)', async () => {
    await call(Op.remove, { account: 'CORP\\WEBPOOL1' })
    assert.equal(await readComputer(admin, dc.baseDn, 'WEBPOOL1$'), undefined)
  })
})
