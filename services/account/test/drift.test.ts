import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AccountDriftRepaired } from '@krbfleet/contracts'
import { type DirectoryAccount, MANAGED_DESCRIPTION } from '../src/domain/account.ts'
import { DRIFT_ACTOR, decideDriftRepair } from '../src/domain/drift.ts'
import { type AccountRecord, beginSecret, confirmSecret } from '../src/domain/record.ts'

const dn = 'CN=KERBAUTH,OU=WebPools,DC=corp,DC=example,DC=com'
const t0 = new Date('2026-01-01T00:00:00Z')
const t1 = new Date('2026-01-02T00:00:00Z')
const input = {
  account: 'CORP\\KERBAUTH',
  dn,
  samAccountName: 'KERBAUTH$',
  dnsHostName: 'kerbauth.corp.example.com',
  encryptionTypes: 24,
  adopted: false,
}
const managed = (): AccountRecord =>
  confirmSecret(beginSecret(null, input, 'sealed', 'create', null, t0), 3, t0)
const ad = (encryptionTypes: number | null, patch: Partial<DirectoryAccount> = {}): DirectoryAccount => ({
  dn,
  samAccountName: 'KERBAUTH$',
  dnsHostName: 'kerbauth.corp.example.com',
  description: MANAGED_DESCRIPTION,
  userAccountControl: 4096,
  encryptionTypes,
  kvno: 3,
  passwordLastSet: t0,
  servicePrincipalNames: [],
  objectGuid: 'aa11',
  ...patch,
})

describe('decideDriftRepair', () => {
  it('given AD holds the record types, then nothing to do', () => {
    assert.equal(decideDriftRepair(managed(), ad(24), t1), null)
  })
  it('given types changed by hand, then the record types are written back and an event joins the outbox', () => {
    const repair = decideDriftRepair(managed(), ad(4), t1)
    assert.ok(repair)
    assert.equal(repair.dn, dn)
    assert.deepEqual(repair.changes, { 'msDS-SupportedEncryptionTypes': '24' })
    assert.ok(AccountDriftRepaired.is(repair.event))
    assert.deepEqual(repair.event.data, {
      account: 'CORP\\KERBAUTH',
      attribute: 'msDS-SupportedEncryptionTypes',
      found: 4,
      restored: 24,
    })
    assert.equal(repair.event.actor, DRIFT_ACTOR)
    assert.deepEqual(repair.record.outbox, [repair.event])
    assert.equal(repair.record.updatedAt, t1.toISOString())
    assert.deepEqual(AccountDriftRepaired.decode(repair.event), repair.event, 'a valid envelope')
  })
  it('given the attribute cleared, then found is null and it is restored', () => {
    const repair = decideDriftRepair(managed(), ad(null), t1)
    assert.ok(repair)
    assert.equal((repair.event.data as { found: unknown }).found, null)
    assert.deepEqual(repair.changes, { 'msDS-SupportedEncryptionTypes': '24' })
  })
  it('given the object moved in AD, then AD is written where it is now', () => {
    const moved = 'CN=KERBAUTH,OU=Elsewhere,DC=corp,DC=example,DC=com'
    assert.equal(decideDriftRepair(managed(), ad(4, { dn: moved }), t1)?.dn, moved)
  })
  it('given the same drift decided twice from the same record, then the same event id; after the repair was recorded, a new one', () => {
    const first = decideDriftRepair(managed(), ad(4), t1)
    const again = decideDriftRepair(managed(), ad(4), t1)
    assert.equal(first?.event.id, again?.event.id)
    assert.ok(first)
    const later = decideDriftRepair(first.record, ad(4), new Date('2026-01-03T00:00:00Z'))
    assert.notEqual(later?.event.id, first.event.id)
  })
  it('given no AD object, a pending write, a decided removal or no confirmed secret, then left alone', () => {
    const record = managed()
    assert.equal(decideDriftRepair(record, null, t1), null)
    const pending = beginSecret(record, input, 'sealed2', 'reset', 3, t1)
    assert.equal(decideDriftRepair(pending, ad(4), t1), null)
    assert.equal(decideDriftRepair({ ...record, removing: true } as AccountRecord, ad(4), t1), null)
    assert.equal(decideDriftRepair(beginSecret(null, input, 's', 'create', null, t0), ad(4), t1), null)
  })
})
