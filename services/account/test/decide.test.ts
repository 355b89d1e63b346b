import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  KerberosAccountCreated,
  KerberosAccountRemoved,
  KrbfleetError,
  PasswordReset,
  parseAccountName,
} from '@krbfleet/contracts'
import { type DirectoryAccount, type DomainInfo, MANAGED_DESCRIPTION } from '../src/domain/account.ts'
import {
  checkRemovable,
  type DecisionContext,
  decideCreate,
  decideRemove,
  decideReset,
  SECRET_PLACEHOLDER,
} from '../src/domain/decide.ts'
import { announcement, callerMeta, removalAnnouncement } from '../src/domain/events.ts'
import {
  type AccountRecord,
  AccountRecordCodec,
  accountEventId,
  beginSecret,
  confirmSecret,
} from '../src/domain/record.ts'
import { accountView, accountViews } from '../src/domain/view.ts'

const domain: DomainInfo = {
  netbiosDomain: 'CORP',
  dnsDomain: 'corp.example.com',
  baseDn: 'DC=corp,DC=example,DC=com',
}
const context: DecisionContext = { domain, defaultEncryptionTypes: 24 }
const account = parseAccountName('CORP\\KERBAUTH')
const containerDn = `CN=Computers,${domain.baseDn}`
const dn = `CN=KERBAUTH,${containerDn}`
const caller = { actor: 'user:alice', correlationId: 'corr-1' }
const t0 = new Date('2026-01-01T00:00:00Z')
const t1 = new Date('2026-01-02T00:00:00Z')

/** A computer account as AD reports it. */
function adObject(patch: Partial<DirectoryAccount> = {}): DirectoryAccount {
  return {
    dn,
    samAccountName: 'KERBAUTH$',
    dnsHostName: 'kerbauth.corp.example.com',
    description: MANAGED_DESCRIPTION,
    userAccountControl: 4096,
    encryptionTypes: 24,
    kvno: 3,
    passwordLastSet: t0,
    servicePrincipalNames: ['HTTP/pool01.corp.example.com'],
    objectGuid: 'aa11',
    ...patch,
  }
}

/** The record of a managed account with a confirmed secret (kvno 3). */
function managedRecord(patch: Partial<AccountRecord> = {}): AccountRecord {
  const input = {
    account: account.id,
    dn,
    samAccountName: 'KERBAUTH$',
    dnsHostName: 'kerbauth.corp.example.com',
    encryptionTypes: 24,
    adopted: false,
  }
  return { ...confirmSecret(beginSecret(null, input, 'sealed', 'create', null, t0), 3, t0), ...patch }
}

function refusal(fn: () => unknown): KrbfleetError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof KrbfleetError, `expected a KrbfleetError, got ${err}`)
    return err
  }
  assert.fail('expected a refusal')
}

const create = (patch: Partial<Parameters<typeof decideCreate>[0]> = {}) => ({
  account,
  containerDn,
  adopt: false,
  dryRun: false,
  ...patch,
})

describe('decideCreate', () => {
  it('given no object in AD and an existing container, when created, then one add of a new life, secret hidden', () => {
    const decision = decideCreate(create(), { existing: null, containerExists: true }, context)
    assert.equal(decision.change.action, 'create')
    assert.equal(decision.change.dn, dn)
    assert.equal(decision.change.kvno, null)
    assert.equal(decision.change.attributes.unicodePwd, SECRET_PLACEHOLDER)
    assert.equal(decision.change.attributes['msDS-SupportedEncryptionTypes'], '24')
    assert.equal(decision.write.kind, 'add')
    assert.equal(decision.write.dn, dn)
    assert.equal('unicodePwd' in (decision.write.kind === 'add' ? decision.write.attributes : {}), false)
    assert.deepEqual(decision.record, {
      dn,
      dnsHostName: 'kerbauth.corp.example.com',
      encryptionTypes: 24,
      adopted: false,
    })
    assert.equal(decision.operation, 'create')
    assert.equal(decision.previousKvno, null)
    assert.equal(decision.life, 'new')
  })
  it('given explicit encryption types, then the account gets them instead of the default', () => {
    const decision = decideCreate(
      create({ encryptionTypes: 16 }),
      { existing: null, containerExists: true },
      context,
    )
    assert.equal(decision.record.encryptionTypes, 16)
    assert.equal(decision.change.attributes['msDS-SupportedEncryptionTypes'], '16')
  })
  it('given a dry run, then the same plan, marked as a dry run', () => {
    const decision = decideCreate(
      create({ dryRun: true }),
      { existing: null, containerExists: true },
      context,
    )
    assert.equal(decision.change.dryRun, true)
    assert.equal(decision.change.action, 'create')
  })
  it('given a container that does not exist, then not_found naming containerDn', () => {
    const err = refusal(() => decideCreate(create(), { existing: null, containerExists: false }, context))
    assert.equal(err.code, 'not_found')
    assert.equal(err.field, 'containerDn')
  })
  it('given an object in AD and no --adopt, then already_exists with its DN', () => {
    const err = refusal(() => decideCreate(create(), { existing: adObject() }, context))
    assert.equal(err.code, 'already_exists')
    assert.equal(err.field, 'account')
    assert.deepEqual(err.details, { dn })
    assert.match(err.message, /--adopt/)
  })
})

describe('decideCreate while an earlier write is being reconciled', () => {
  it('given a pending write of unknown outcome, then a retryable conflict saying so, neither --adopt nor already_exists', () => {
    for (const existing of [null, adObject()]) {
      for (const adopt of [false, true]) {
        const err = refusal(() =>
          decideCreate(create({ adopt }), { existing, pendingSince: '2026-01-01T00:00:00.000Z' }, context),
        )
        assert.equal(err.code, 'conflict')
        assert.equal(err.retryable, true)
        assert.equal(err.field, 'account')
        assert.match(err.message, /unknown outcome and is being reconciled/)
        assert.match(err.message, /no --adopt or reset is needed/)
        assert.deepEqual(err.details, { outcome: 'reconciling', pendingSince: '2026-01-01T00:00:00.000Z' })
      }
    }
  })
})

describe('decideCreate with --adopt', () => {
  it('given an unmarked computer account with usable types, then the marker is added, the types kept', () => {
    const existing = adObject({ description: 'web pool', encryptionTypes: 16, kvno: 7 })
    const decision = decideCreate(create({ adopt: true }), { existing }, context)
    assert.equal(decision.change.action, 'adopt')
    assert.deepEqual(decision.change.attributes, {
      description: MANAGED_DESCRIPTION,
      unicodePwd: SECRET_PLACEHOLDER,
    })
    assert.deepEqual(decision.write, { kind: 'modify', dn, changes: { description: MANAGED_DESCRIPTION } })
    assert.deepEqual(decision.record, {
      dn,
      dnsHostName: 'kerbauth.corp.example.com',
      encryptionTypes: 16,
      adopted: true,
    })
    assert.equal(decision.operation, 'adopt')
    assert.equal(decision.previousKvno, 7)
    assert.equal(decision.life, 'continue')
  })
  it('given types krbfleet cannot serve (DES, or none), then the default replaces them', () => {
    for (const encryptionTypes of [3, 4, null]) {
      const decision = decideCreate(
        create({ adopt: true }),
        { existing: adObject({ encryptionTypes }) },
        context,
      )
      assert.equal(decision.record.encryptionTypes, 24)
      assert.equal(
        decision.write.kind === 'modify' && decision.write.changes['msDS-SupportedEncryptionTypes'],
        '24',
      )
    }
  })
  it('given explicit types, then they win over the account own', () => {
    const decision = decideCreate(
      create({ adopt: true, encryptionTypes: 8 }),
      { existing: adObject() },
      context,
    )
    assert.equal(decision.record.encryptionTypes, 8)
  })
  it('given an account already marked with the wanted types, then only the password is written', () => {
    const decision = decideCreate(create({ adopt: true }), { existing: adObject() }, context)
    assert.deepEqual(decision.write, { kind: 'modify', dn, changes: {} })
    assert.deepEqual(decision.change.attributes, { unicodePwd: SECRET_PLACEHOLDER })
  })
  it('given no dNSHostName in AD, then the record has an empty one', () => {
    const decision = decideCreate(
      create({ adopt: true }),
      { existing: adObject({ dnsHostName: null }) },
      context,
    )
    assert.equal(decision.record.dnsHostName, '')
  })
  it('given a user account (no WORKSTATION_TRUST_ACCOUNT), then a rule violation: its salt differs', () => {
    for (const userAccountControl of [512, null]) {
      const err = refusal(() =>
        decideCreate(create({ adopt: true }), { existing: adObject({ userAccountControl }) }, context),
      )
      assert.equal(err.code, 'rule_violation')
      assert.match(err.message, /not a computer account/)
    }
  })
})

describe('decideReset', () => {
  it('given a managed account in AD, when reset, then only the password, continuing the record', () => {
    const decision = decideReset(
      { account, dryRun: false },
      { ad: adObject({ kvno: 5 }), record: managedRecord() },
    )
    assert.equal(decision.change.action, 'password-reset')
    assert.deepEqual(decision.change.attributes, { unicodePwd: SECRET_PLACEHOLDER })
    assert.deepEqual(decision.write, { kind: 'modify', dn, changes: {} })
    assert.equal(decision.operation, 'reset')
    assert.equal(decision.previousKvno, 5)
    assert.equal(decision.life, 'continue')
  })
  it('given AD lost dNSHostName, then the record keeps its own; types and adoption come from the record', () => {
    const record = managedRecord({ encryptionTypes: 16, adopted: true })
    const decision = decideReset({ account, dryRun: false }, { ad: adObject({ dnsHostName: null }), record })
    assert.deepEqual(decision.record, {
      dn,
      dnsHostName: 'kerbauth.corp.example.com',
      encryptionTypes: 16,
      adopted: true,
    })
  })
  it('given no object in AD, then not_found, whatever the record', () => {
    for (const record of [null, managedRecord()]) {
      const err = refusal(() => decideReset({ account, dryRun: false }, { ad: null, record }))
      assert.equal(err.code, 'not_found')
      assert.match(err.message, /does not exist in the directory/)
    }
  })
  it('given a pending write of unknown outcome, then a retryable conflict: a second write would race it', () => {
    const pending = beginSecret(
      managedRecord(),
      {
        account: account.id,
        dn,
        samAccountName: 'KERBAUTH$',
        dnsHostName: 'kerbauth.corp.example.com',
        encryptionTypes: 24,
        adopted: false,
      },
      'sealed2',
      'reset',
      3,
      t1,
    )
    const err = refusal(() => decideReset({ account, dryRun: false }, { ad: adObject(), record: pending }))
    assert.equal(err.code, 'conflict')
    assert.equal(err.retryable, true)
    assert.match(err.message, new RegExp(`started ${t1.toISOString()}.*being reconciled`))
  })
  it('given an object krbfleet does not manage, then a rule violation pointing to --adopt', () => {
    const err = refusal(() => decideReset({ account, dryRun: true }, { ad: adObject(), record: null }))
    assert.equal(err.code, 'rule_violation')
    assert.match(err.message, /--adopt/)
  })
})

describe('decideRemove', () => {
  const remove = (patch: { force?: boolean; dryRun?: boolean } = {}) => ({
    account,
    force: false,
    dryRun: false,
    ...patch,
  })

  it('given nothing in AD nor KV, then not_found', () => {
    const err = refusal(() =>
      decideRemove(remove(), { ad: null, record: null, sites: [] }, context, caller, t1),
    )
    assert.equal(err.code, 'not_found')
    assert.throws(() => checkRemovable(account, null, null), { code: 'not_found' })
  })
  it('given an AD object krbfleet never owned, then a rule violation: it is not deleted', () => {
    const ad = adObject({ description: 'hand made' })
    const err = refusal(() =>
      decideRemove(remove({ force: true }), { ad, record: null, sites: [] }, context, caller, t1),
    )
    assert.equal(err.code, 'rule_violation')
    assert.match(err.message, /not managed by krbfleet/)
    assert.throws(() => checkRemovable(account, ad, null), { code: 'rule_violation' })
  })
  it('given an account the enabled topology assigns, then refused without --force, naming the sites', () => {
    const facts = { ad: adObject(), record: managedRecord(), sites: ['Redmond', 'Dublin'] }
    const err = refusal(() => decideRemove(remove(), facts, context, caller, t1))
    assert.equal(err.code, 'rule_violation')
    assert.deepEqual(err.details, { sites: ['Redmond', 'Dublin'] })
    assert.match(err.message, /sites Redmond, Dublin .* assignments/)
    assert.equal(decideRemove(remove({ force: true }), facts, context, caller, t1).change.action, 'remove')
  })
  it('given a managed account, then the record states the decision: removing, its target, the owed event', () => {
    const record = managedRecord({ outbox: [{ id: 'owed-before' }] })
    const decision = decideRemove(remove(), { ad: adObject(), record, sites: [] }, context, caller, t1)
    assert.deepEqual(decision.change, {
      account: account.id,
      action: 'remove',
      dryRun: false,
      dn,
      attributes: {},
      kvno: null,
    })
    assert.equal(decision.record.removing, true)
    assert.deepEqual(decision.record.removalTarget, { dn, objectGuid: 'aa11' })
    assert.equal(decision.record.createdAt, record.createdAt, 'the same life')
    assert.equal(decision.record.updatedAt, t1.toISOString())
    const owed = decision.record.outbox as { id: string; type: string; data: unknown }[]
    assert.deepEqual(
      owed.map((e) => e.id),
      ['owed-before', decision.eventId],
    )
    assert.equal(decision.eventId, accountEventId(account.id, record.createdAt, 'removed', null))
    assert.equal(owed[1]?.type, KerberosAccountRemoved.type)
    assert.deepEqual(owed[1]?.data, { account: account.id, dn })
    AccountRecordCodec.decode(decision.record)
  })
  it('given the same decision taken again, then the same event id, once in the outbox', () => {
    const first = decideRemove(
      remove(),
      { ad: adObject(), record: managedRecord(), sites: [] },
      context,
      caller,
      t1,
    )
    const again = decideRemove(
      remove(),
      { ad: adObject(), record: first.record, sites: [] },
      context,
      caller,
      t1,
    )
    assert.equal(again.eventId, first.eventId)
    assert.equal((again.record.outbox ?? []).length, 1)
  })
  it('given only a record (AD object gone), then it targets nothing and keeps the record DN', () => {
    const decision = decideRemove(
      remove(),
      { ad: null, record: managedRecord(), sites: [] },
      context,
      caller,
      t1,
    )
    assert.equal(decision.record.removalTarget, null)
    assert.equal(decision.change.dn, dn)
  })
  it('given a marked AD object without a record, then a record of a new life is made for the decision', () => {
    const ad = adObject({ encryptionTypes: null, objectGuid: null })
    const decision = decideRemove(
      remove({ dryRun: true }),
      { ad, record: null, sites: [] },
      context,
      caller,
      t1,
    )
    assert.equal(decision.change.dryRun, true)
    assert.equal(decision.record.createdAt, t1.toISOString())
    assert.equal(decision.record.encryptionTypes, 24, 'the default when AD has none')
    assert.equal(decision.record.secret, null)
    assert.deepEqual(decision.record.removalTarget, { dn, objectGuid: null })
    AccountRecordCodec.decode(decision.record)
  })
})

describe('account events', () => {
  const record = managedRecord()
  it('given a confirmed create, adopt or reset, then the event and an id derived from record and kvno', () => {
    const created = announcement(record, 'create', 4, caller, t1)
    assert.equal(created.type, KerberosAccountCreated.type)
    assert.equal(created.id, accountEventId(account.id, record.createdAt, 'created', 4))
    assert.deepEqual(created.data, { account: account.id, dn, kvno: 4, encryptionTypes: 24, adopted: false })
    assert.equal(created.occurredAt, t1.toISOString())
    assert.equal(created.correlationId, 'corr-1')
    const adopted = announcement(record, 'adopt', 4, caller, t1)
    assert.equal(adopted.id, accountEventId(account.id, record.createdAt, 'adopted', 4))
    assert.equal((adopted.data as { adopted: boolean }).adopted, true)
    const reset = announcement(record, 'reset', 5, caller, t1)
    assert.equal(reset.type, PasswordReset.type)
    assert.deepEqual(reset.data, { account: account.id, kvno: 5, reason: 'reset by user:alice' })
  })
  it('given the same write announced twice (a recovery), then the same id', () => {
    assert.equal(
      announcement(record, 'reset', 5, caller, t0).id,
      announcement(record, 'reset', 5, caller, t1).id,
    )
    assert.equal(
      removalAnnouncement(record, dn, caller, t0).id,
      removalAnnouncement(record, dn, caller, t1).id,
    )
  })
  it('given a caller without a correlation id, then the envelope uses its own id', () => {
    assert.deepEqual(callerMeta({ actor: 'user:bob' }), { actor: 'user:bob' })
    const e = announcement(record, 'reset', 5, { actor: 'user:bob' }, t1)
    assert.equal(e.correlationId, e.id)
  })
})

describe('account views', () => {
  it('given AD and a record, then AD facts win and the record adds the secret kvno', () => {
    const view = accountView(account.id, adObject({ kvno: 9 }), managedRecord())
    assert.equal(view.kvno, 9)
    assert.equal(view.secretKvno, 3)
    assert.equal(view.managed, true)
    assert.equal(view.existsInDirectory, true)
    assert.deepEqual(view.encryptionTypeNames, ['aes128-cts-hmac-sha1-96', 'aes256-cts-hmac-sha1-96'])
    assert.equal(view.passwordLastSet, t0.toISOString())
  })
  it('given only a record, then its DN and names, nothing from AD', () => {
    const view = accountView(account.id, null, managedRecord())
    assert.equal(view.dn, dn)
    assert.equal(view.existsInDirectory, false)
    assert.equal(view.kvno, null)
    assert.deepEqual(view.servicePrincipalNames, [])
  })
  it('given records and marked AD objects, then one view each, matched by sAMAccountName, sorted', () => {
    const marked = [
      adObject({ samAccountName: 'kerbauth$' }),
      adObject({ dn: `CN=ZWEB,${containerDn}`, samAccountName: 'ZWEB$' }),
    ]
    const other = managedRecord({
      account: 'CORP\\AWEB',
      samAccountName: 'AWEB$',
      dn: `CN=AWEB,${containerDn}`,
    })
    const views = accountViews('corp', marked, [managedRecord(), other])
    assert.deepEqual(
      views.map((v) => [v.account, v.managed, v.existsInDirectory]),
      [
        ['CORP\\AWEB', true, false],
        ['CORP\\KERBAUTH', true, true],
        ['CORP\\ZWEB', false, true],
      ],
    )
  })
})
