import { type AccountChange, type AccountName, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import {
  accountDn,
  type DirectoryAccount,
  type DomainInfo,
  isManagedDescription,
  isUsableEncryptionTypes,
  MANAGED_DESCRIPTION,
  type NewAccountAttributes,
  newAccountAttributes,
  UserAccountControl,
} from './account.ts'
import { type CallContext, removalAnnouncement } from './events.ts'
import type { AccountRecord, NewRecordInput, PendingOperation } from './record.ts'

/**
 * The account decider (STYLE rule 3): given what AD and the KV record say and the request, what
 * to do. Each command either is refused with a KrbfleetError naming the field and the rule
 * (nothing changes then), or yields the plan answered to the caller and what the service writes.
 * Pure: no I/O, no clock (the caller passes times in).
 */

/** Shown instead of the password in plans: the secret never leaves the service. */
export const SECRET_PLACEHOLDER = '[secret]'

/** The service's settings that decisions depend on. */
export interface DecisionContext {
  domain: DomainInfo
  /** msDS-SupportedEncryptionTypes for new accounts, and when an adopted one has no usable value. */
  defaultEncryptionTypes: number
}

/**
 * Which life of the record a password write belongs to: `new` starts one (a create where AD has
 * no object: new createdAt, so new event ids), `continue` keeps the record's life.
 */
export type RecordLife = 'new' | 'continue'

/** What AD gets in a password write; the password itself is added by the saga. */
export type DirectoryWrite =
  /** One LDAP add with the password: the account never exists without its secret. */
  | { kind: 'add'; dn: string; attributes: NewAccountAttributes }
  /** Replace `changes` (when there are any), then reset the password. */
  | { kind: 'modify'; dn: string; changes: Record<string, string> }

/** A decided password write (create, adopt, reset). */
export interface PasswordWriteDecision {
  account: AccountName
  /** The answer to the caller (kvno null until AD reports it). */
  change: AccountChange
  write: DirectoryWrite
  /** What the record says about the account after the write. */
  record: Omit<NewRecordInput, 'account' | 'samAccountName'>
  operation: PendingOperation
  /** AD's kvno before the write (null for a create: there is no object). */
  previousKvno: number | null
  life: RecordLife
}

export interface CreateCommand {
  account: AccountName
  /** Resolved (resolveContainerDn). */
  containerDn: string
  /** Parsed encryption types of the request, if it names any. */
  encryptionTypes?: number | undefined
  adopt: boolean
  dryRun: boolean
}

export interface CreateFacts {
  /** The object AD holds under the account's sAMAccountName. */
  existing: DirectoryAccount | null
  /** When the KV record holds a secret whose write has an unknown outcome: its start (ISO time). */
  pendingSince?: string | null
  /** Whether the container exists; asked of AD only when there is no object to adopt. */
  containerExists?: boolean
}

/**
 * The answer to a write while an earlier one of the same account has an unknown outcome (the DC did
 * not answer in time): neither an adopt nor a reset is the fix; the sweep settles it from AD's kvno
 * (saga/pending-secret.ts), and the write can be retried after.
 */
export function beingReconciled(account: AccountName, pendingSince: string): KrbfleetError {
  return new KrbfleetError(
    ErrorCode.Conflict,
    `account: an earlier password write for ${account.id} (started ${pendingSince}) has an unknown outcome and is being reconciled from AD's kvno; retry once \`krbfleet account test ${account.id}\` no longer reports it (no --adopt or reset is needed)`,
    { field: 'account', retryable: true, details: { outcome: 'reconciling', pendingSince } },
  )
}

/** New-CsKerberosAccount: create the computer account, or adopt the one AD already has (--adopt). */
export function decideCreate(
  command: CreateCommand,
  facts: CreateFacts,
  context: DecisionContext,
): PasswordWriteDecision {
  const { account } = command
  if (facts.pendingSince) throw beingReconciled(account, facts.pendingSince)
  const existing = facts.existing
  if (existing && !command.adopt) {
    throw new KrbfleetError(
      ErrorCode.AlreadyExists,
      `account: ${account.id} already exists at ${existing.dn}; use --adopt to let krbfleet manage it`,
      { field: 'account', details: { dn: existing.dn } },
    )
  }
  if (existing) return decideAdopt(command, existing, context)
  if (facts.containerExists !== true) {
    throw new KrbfleetError(
      ErrorCode.NotFound,
      `containerDn: '${command.containerDn}' does not exist in the directory`,
      { field: 'containerDn' },
    )
  }
  const encryptionTypes = command.encryptionTypes ?? context.defaultEncryptionTypes
  const dn = accountDn(account, command.containerDn)
  const attributes = newAccountAttributes(account, context.domain, encryptionTypes)
  return {
    account,
    change: {
      account: account.id,
      action: 'create',
      dryRun: command.dryRun,
      dn,
      attributes: { ...attributes, unicodePwd: SECRET_PLACEHOLDER },
      kvno: null,
    },
    write: { kind: 'add', dn, attributes },
    record: { dn, dnsHostName: attributes.dNSHostName, encryptionTypes, adopted: false },
    operation: 'create',
    previousKvno: null,
    // AD has no object: whatever record is left describes an earlier life (removed in AD by
    // hand, or a create that never reached AD).
    life: 'new',
  }
}

/** Adopt: krbfleet takes over an existing computer account (marker, usable types, a new password). */
function decideAdopt(
  command: CreateCommand,
  existing: DirectoryAccount,
  context: DecisionContext,
): PasswordWriteDecision {
  const { account } = command
  const uac = existing.userAccountControl ?? 0
  if (!(uac & UserAccountControl.WorkstationTrustAccount)) {
    // The keys krbfleet derives use the computer-account salt (MS-KILE 3.1.1.2); a user
    // account has another salt, so adopting one would hand out wrong keys.
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `account: ${account.id} at ${existing.dn} is not a computer account (userAccountControl ${uac} lacks WORKSTATION_TRUST_ACCOUNT); only computer accounts can be adopted`,
      { field: 'account' },
    )
  }
  // Keep the account's own types when they are usable (AES, no DES); otherwise the default:
  // krbfleet derives and hands out AES keys only (RFC 3962).
  const usable = existing.encryptionTypes !== null && isUsableEncryptionTypes(existing.encryptionTypes)
  const encryptionTypes =
    command.encryptionTypes ?? (usable ? existing.encryptionTypes : null) ?? context.defaultEncryptionTypes
  const changes: Record<string, string> = {}
  if (!isManagedDescription(existing.description)) changes.description = MANAGED_DESCRIPTION
  if (existing.encryptionTypes !== encryptionTypes)
    changes['msDS-SupportedEncryptionTypes'] = String(encryptionTypes)
  return {
    account,
    change: {
      account: account.id,
      action: 'adopt',
      dryRun: command.dryRun,
      dn: existing.dn,
      attributes: { ...changes, unicodePwd: SECRET_PLACEHOLDER },
      kvno: null,
    },
    write: { kind: 'modify', dn: existing.dn, changes },
    record: { dn: existing.dn, dnsHostName: existing.dnsHostName ?? '', encryptionTypes, adopted: true },
    operation: 'adopt',
    previousKvno: existing.kvno,
    life: 'continue',
  }
}

export interface ResetCommand {
  account: AccountName
  dryRun: boolean
}

export interface ResetFacts {
  /** The object AD holds under the account's sAMAccountName. */
  ad: DirectoryAccount | null
  /** krbfleet's record; not needed (and may be null) when AD has no object. */
  record: AccountRecord | null
}

/** The AD half of Set-CsKerberosAccountPassword: a new password for an account krbfleet manages. */
export function decideReset(command: ResetCommand, facts: ResetFacts): PasswordWriteDecision {
  const { account } = command
  const { ad, record } = facts
  if (!ad) {
    throw new KrbfleetError(ErrorCode.NotFound, `account: ${account.id} does not exist in the directory`, {
      field: 'account',
    })
  }
  if (!record) {
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `account: ${account.id} is not managed by krbfleet; adopt it first (krbfleet account new ${account.id} --adopt)`,
      { field: 'account' },
    )
  }
  // A second write now could race the first one still in a DC's buffer: AD's kvno would no longer
  // tell which password it holds.
  if (record.pending) throw beingReconciled(account, record.pending.startedAt)
  return {
    account,
    change: {
      account: account.id,
      action: 'password-reset',
      dryRun: command.dryRun,
      dn: ad.dn,
      attributes: { unicodePwd: SECRET_PLACEHOLDER },
      kvno: null,
    },
    write: { kind: 'modify', dn: ad.dn, changes: {} },
    record: {
      dn: ad.dn,
      dnsHostName: ad.dnsHostName ?? record.dnsHostName,
      encryptionTypes: record.encryptionTypes,
      adopted: record.adopted,
    },
    operation: 'reset',
    previousKvno: ad.kvno,
    life: 'continue',
  }
}

export interface RemoveCommand {
  account: AccountName
  force: boolean
  dryRun: boolean
}

export interface RemoveFacts {
  ad: DirectoryAccount | null
  record: AccountRecord | null
  /** The sites the enabled topology assigns the account to. */
  sites: readonly string[]
}

export interface RemovalDecision {
  change: AccountChange
  /**
   * The record that states the decision (removing, the AD object it targets, the event it owes):
   * written before anything else, so that the sweep finishes a removal interrupted anywhere.
   */
  record: AccountRecord
  /** The id of the KerberosAccountRemoved event in the record's outbox. */
  eventId: string
}

/**
 * The part of the removal rules that needs no topology: something must exist, and an AD object
 * krbfleet never owned is not deleted (that would be a surprise). The service asks the topology
 * only about an account that passes.
 */
export function checkRemovable(
  account: AccountName,
  ad: DirectoryAccount | null,
  record: AccountRecord | null,
): void {
  if (!ad && !record) {
    throw new KrbfleetError(ErrorCode.NotFound, `account: ${account.id} does not exist`, {
      field: 'account',
    })
  }
  if (ad && !record && !isManagedDescription(ad.description)) {
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `account: ${account.id} at ${ad.dn} is not managed by krbfleet; remove it with AD tools if intended`,
      { field: 'account' },
    )
  }
}

/** Removes the account from AD and krbfleet's records. */
export function decideRemove(
  command: RemoveCommand,
  facts: RemoveFacts,
  context: DecisionContext,
  caller: CallContext,
  now: Date,
): RemovalDecision {
  const { account } = command
  const { ad, record, sites } = facts
  checkRemovable(account, ad, record)
  // Removing an account the enabled topology still assigns breaks those sites' Kerberos at once
  // (their SPNs and keys go with it); like Lync's Remove-CsKerberosAccountAssignment first.
  if (sites.length > 0 && !command.force) {
    const s = sites.length > 1 ? 's' : ''
    throw new KrbfleetError(
      ErrorCode.RuleViolation,
      `account: ${account.id} is assigned to site${s} ${sites.join(', ')} in the enabled topology; remove the assignment${s} and enable the topology first, or force the removal (--force)`,
      { field: 'account', details: { sites: [...sites] } },
    )
  }
  const dn = ad?.dn ?? record?.dn ?? ''
  const at = now.toISOString()
  const base: AccountRecord = record ?? {
    account: account.id,
    dn,
    samAccountName: account.samAccountName,
    dnsHostName: ad?.dnsHostName ?? '',
    encryptionTypes: ad?.encryptionTypes ?? context.defaultEncryptionTypes,
    adopted: false,
    createdAt: at,
    updatedAt: at,
    secret: null,
    pending: null,
  }
  const removed = removalAnnouncement(base, dn, caller, now)
  return {
    change: { account: account.id, action: 'remove', dryRun: command.dryRun, dn, attributes: {}, kvno: null },
    record: {
      ...base,
      removing: true,
      // Exactly the object decided on: the sweep must never delete a later one under this name.
      removalTarget: ad ? { dn: ad.dn, objectGuid: ad.objectGuid ?? null } : null,
      updatedAt: at,
      outbox: [...(base.outbox ?? []).filter((e) => (e as { id?: string }).id !== removed.id), removed],
    },
    eventId: removed.id,
  }
}
