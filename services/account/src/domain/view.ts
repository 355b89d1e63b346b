import type { AccountView } from '@krbfleet/contracts'
import { type DirectoryAccount, encryptionTypeNames } from './account.ts'
import type { AccountRecord } from './record.ts'
import { scheduledRotationOf } from '../rotation/schedule.ts'

/**
 * What `account show` and `account list` answer: AD's view of the object where there is one, the
 * record's where not. Pure.
 */
export function accountView(
  id: string,
  ad: DirectoryAccount | null,
  record: AccountRecord | null,
  /** The rotation policy: with it, the view says when the schedule rotates the password next. */
  maxPasswordAgeDays?: number,
): AccountView {
  const encryptionTypes = ad?.encryptionTypes ?? record?.encryptionTypes ?? null
  return {
    account: id,
    dn: ad?.dn ?? record?.dn ?? '',
    samAccountName: ad?.samAccountName ?? record?.samAccountName ?? '',
    dnsHostName: ad?.dnsHostName ?? record?.dnsHostName ?? null,
    description: ad?.description ?? null,
    userAccountControl: ad?.userAccountControl ?? null,
    encryptionTypes,
    encryptionTypeNames: encryptionTypeNames(encryptionTypes),
    kvno: ad?.kvno ?? null,
    passwordLastSet: ad?.passwordLastSet?.toISOString() ?? null,
    servicePrincipalNames: ad?.servicePrincipalNames ?? [],
    existsInDirectory: ad !== null,
    managed: record !== null,
    adopted: record?.adopted ?? false,
    secretKvno: record?.secret?.kvno ?? null,
    ...(maxPasswordAgeDays === undefined
      ? {}
      : {
          nextRotation: (record && scheduledRotationOf(record, maxPasswordAgeDays)?.toISOString()) ?? null,
        }),
  }
}

/**
 * The managed accounts: every record (with its AD object, matched by sAMAccountName in any case)
 * plus every object AD marks as krbfleet's without a record, sorted by account.
 */
export function accountViews(
  netbiosDomain: string,
  marked: readonly DirectoryAccount[],
  records: readonly AccountRecord[],
  maxPasswordAgeDays?: number,
): AccountView[] {
  const views = new Map<string, AccountView>()
  const bySam = new Map(marked.map((a) => [a.samAccountName.toUpperCase(), a]))
  for (const record of records) {
    const ad = bySam.get(record.samAccountName.toUpperCase()) ?? null
    bySam.delete(record.samAccountName.toUpperCase())
    views.set(record.account, accountView(record.account, ad, record, maxPasswordAgeDays))
  }
  for (const ad of bySam.values()) {
    const id = `${netbiosDomain.toUpperCase()}\\${ad.samAccountName.replace(/\$$/, '').toUpperCase()}`
    views.set(id, accountView(id, ad, null))
  }
  return [...views.values()].sort((a, b) => a.account.localeCompare(b.account))
}
