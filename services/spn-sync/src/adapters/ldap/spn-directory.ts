import type { Directory } from '@krbfleet/directory'
import { filter } from '@krbfleet/directory'
import type { AccountEntry, SpnDirectory, SpnHolderEntry } from '../../ports.ts'

/**
 * spn-sync's view of Active Directory over @krbfleet/directory: every filter value is escaped by
 * the filter builders, and each account's change is ONE modify with add and delete value lists
 * (atomic on the DC: either every SPN of the change is written or none).
 */
export function spnDirectory(directory: Directory): SpnDirectory {
  return {
    async findAccount(samAccountName) {
      const entry = await directory.findOne(
        directory.baseDn,
        filter.and(filter.eq('objectClass', 'computer'), filter.eq('sAMAccountName', samAccountName)),
        { attributes: ['sAMAccountName', 'servicePrincipalName'] },
      )
      if (entry === undefined) return null
      const account: AccountEntry = {
        dn: entry.dn,
        samAccountName: entry.value('sAMAccountName') ?? samAccountName,
        servicePrincipalNames: entry.values('servicePrincipalName'),
      }
      return account
    },
    async findHolders(spns) {
      const found = await directory.findSpnHolders(spns)
      const out = new Map<string, SpnHolderEntry[]>()
      for (const [spn, holders] of found) {
        out.set(
          spn,
          holders.map((h) => ({ dn: h.dn, samAccountName: h.samAccountName || null, spn: h.spn })),
        )
      }
      return out
    },
    async writeSpns(dn, change) {
      await directory.modifySpns(dn, change)
    },
    async allHolders() {
      // Paged (RFC 2696): a forest holds far more SPNs than one page (MaxPageSize 1000).
      const entries = await directory.search(directory.baseDn, filter.present('servicePrincipalName'), {
        attributes: ['sAMAccountName', 'servicePrincipalName'],
        paged: true,
      })
      return entries.flatMap((entry) =>
        entry.values('servicePrincipalName').map((spn) => ({
          dn: entry.dn,
          samAccountName: entry.value('sAMAccountName') ?? null,
          spn,
        })),
      )
    },
  }
}
