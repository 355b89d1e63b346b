import { parseAccountName, type TopologyRevision } from '@krbfleet/contracts'
import {
  desiredSpnsOf,
  emptyOwnership,
  managedSpns,
  type OwnershipRecord,
  type SpnConflictRecord,
  SpnSet,
} from './domain/index.ts'
import type { AccountEntry, OwnershipStore, SpnDirectory, SpnHolderEntry } from './ports.ts'

/** What reading an account's state needs: the directory and the ownership records. */
export interface StateReaders {
  directory: SpnDirectory
  ownership: OwnershipStore
}

/** The parts of one account's state a reconcile or a plan works from. */
export interface AccountState {
  account: string
  revision: TopologyRevision
  desired: SpnSet
  entry: AccountEntry
  stored: { record: OwnershipRecord; version: number | null }
}

export interface ConflictCheck {
  /** Additions that are free to write. */
  writable: string[]
  conflicts: SpnConflictRecord[]
  /** krbfleet accounts that hold an SPN they no longer want, which this account now wants. */
  release: string[]
}

/** The account in AD and its ownership record under `revision`; null when AD has no such account. */
export async function readAccountState(
  readers: StateReaders,
  account: string,
  revision: TopologyRevision,
): Promise<AccountState | null> {
  const { samAccountName } = parseAccountName(account)
  const entry = await readers.directory.findAccount(samAccountName)
  if (entry === null) return null
  const stored = await readers.ownership.read(account)
  return {
    account,
    revision,
    desired: desiredSpnsOf(revision, account),
    entry,
    stored: stored ?? { record: emptyOwnership(account), version: null },
  }
}

/**
 * Looks every SPN to add up across the directory (and the aliases AD maps it to). An SPN held by
 * another object is a conflict, unless the holder is a krbfleet account that owns it and no
 * longer wants it (a site moving between accounts): then that account is to release it.
 */
export async function checkAdditions(
  readers: StateReaders,
  state: AccountState,
  add: string[],
): Promise<ConflictCheck> {
  if (add.length === 0) return { writable: [], conflicts: [], release: [] }
  const { account } = state
  const holders = await readers.directory.findHolders(add)
  const ownDn = state.entry.dn.toLowerCase()
  // Holders live in the directory this service is bound to, i.e. in the account's own domain.
  const netbiosDomain = parseAccountName(account).domain
  const writable: string[] = []
  const conflicts: SpnConflictRecord[] = []
  const release = new Set<string>()
  const ownershipCache = new Map<string, SpnSet>()
  const ownedBy = async (other: string): Promise<SpnSet> => {
    let owned = ownershipCache.get(other)
    if (owned === undefined) {
      const stored = await readers.ownership.read(other)
      owned = stored ? managedSpns(stored.record) : new SpnSet()
      ownershipCache.set(other, owned)
    }
    return owned
  }
  for (const spn of add) {
    const holding = (holders.get(spn) ?? []).filter((h) => h.dn.toLowerCase() !== ownDn)
    if (holding.length === 0) {
      writable.push(spn)
      continue
    }
    let releasable = true
    const releasers: string[] = []
    for (const holder of holding) {
      const other = krbfleetAccountOf(holder, netbiosDomain)
      if (other === null || other === account) {
        releasable = false
        break
      }
      const stillWanted = desiredSpnsOf(state.revision, other).has(holder.spn)
      if (!(await ownedBy(other)).has(holder.spn) || stillWanted) {
        releasable = false
        break
      }
      releasers.push(other)
    }
    if (releasable) for (const r of releasers) release.add(r)
    else conflicts.push({ spn, holder: holding[0]!.dn })
  }
  return { writable, conflicts, release: [...release].sort() }
}

/** The krbfleet account id of a holder when it is a computer account (sAMAccountName ends in $). */
function krbfleetAccountOf(holder: SpnHolderEntry, netbiosDomain: string): string | null {
  const sam = holder.samAccountName
  if (sam === null || !sam.endsWith('$')) return null
  try {
    return parseAccountName(`${netbiosDomain}\\${sam}`).id
  } catch {
    return null
  }
}
