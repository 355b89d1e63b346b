import {
  type AccountSpnPlan,
  ErrorCode,
  KrbfleetError,
  parseAccountName,
  type SpnDesired,
  type SpnDuplicates,
  type SpnHolder,
  type SpnListing,
  type SpnPlan,
  type SpnQueryResult,
  type TopologyRevision,
} from '@krbfleet/contracts'
import { checkAdditions, readAccountState } from './account-state.ts'
import {
  accountId,
  accountsOf,
  canonicalSpn,
  desiredSpnsOf,
  diff,
  managedSpns,
  SpnSet,
  spnKey,
} from './domain/index.ts'
import type { OwnershipStore, SpnDirectory, SpnHolderEntry, TopologyReader } from './ports.ts'

export interface SpnQueriesOptions {
  topology: TopologyReader
  ownership: OwnershipStore
  directory: SpnDirectory
}

/**
 * The read-only side of spn-sync (setspn -L / -Q / -X, the plan, the desired SPNs): each reads
 * the enabled revision, AD and the ownership records, and writes nothing. Account ids arrive
 * validated (service.ts).
 */
export class SpnQueries {
  readonly #topology: TopologyReader
  readonly #ownership: OwnershipStore
  readonly #directory: SpnDirectory

  constructor(options: SpnQueriesOptions) {
    this.#topology = options.topology
    this.#ownership = options.ownership
    this.#directory = options.directory
  }

  /** Every account to look at: those of the enabled revision and those krbfleet still owns SPNs on. */
  async accounts(): Promise<string[]> {
    const revision = await this.#topology.enabled()
    const owned = await this.#ownership.accounts()
    return [...new Set([...accountsOf(revision), ...owned.map(accountId)])].sort()
  }

  /** spn.plan: the diff of the given accounts (all when undefined), with conflicts; writes nothing. */
  async plan(accounts?: string[]): Promise<SpnPlan> {
    const revision = await this.#topology.enabled()
    if (revision === null) return { revision: 0, accounts: [] }
    const plans: AccountSpnPlan[] = []
    for (const a of accounts ?? (await this.accounts())) plans.push(await this.#planAccount(a, revision))
    return { revision: revision.revision, accounts: plans }
  }

  async #planAccount(account: string, revision: TopologyRevision): Promise<AccountSpnPlan> {
    const readers = { directory: this.#directory, ownership: this.#ownership }
    const desired = desiredSpnsOf(revision, account)
    const state = await readAccountState(readers, account, revision)
    if (state === null) {
      return {
        account,
        dn: null,
        desired: desired.sorted(),
        add: [],
        remove: [],
        keepForeign: [],
        conflicts: [],
      }
    }
    const change = diff({
      desired,
      actual: state.entry.servicePrincipalNames,
      managed: managedSpns(state.stored.record),
    })
    const check = await checkAdditions(readers, state, change.add)
    // SPNs another krbfleet account releases are written by the reconcile, so they are in `add`.
    const conflicted = new SpnSet(check.conflicts.map((c) => c.spn))
    return {
      account,
      dn: state.entry.dn,
      desired: desired.sorted(),
      add: change.add.filter((s) => !conflicted.has(s)),
      remove: change.remove,
      keepForeign: change.keepForeign,
      conflicts: check.conflicts,
    }
  }

  /** spn.list (setspn -L): every SPN on the account, managed or foreign, and what is missing. */
  async list(account: string): Promise<SpnListing> {
    const { samAccountName } = parseAccountName(account)
    const entry = await this.#directory.findAccount(samAccountName)
    if (entry === null) {
      throw new KrbfleetError(ErrorCode.NotFound, `account: ${account} does not exist in the directory`, {
        field: 'account',
      })
    }
    const revision = await this.#topology.enabled()
    const desired = desiredSpnsOf(revision, account)
    const stored = await this.#ownership.read(account)
    const managed = stored ? managedSpns(stored.record) : new SpnSet()
    const actual = new SpnSet(entry.servicePrincipalNames)
    return {
      account,
      dn: entry.dn,
      revision: revision?.revision ?? 0,
      spns: actual.sorted().map((spn) => ({ spn, managed: managed.has(spn), desired: desired.has(spn) })),
      missing: desired.minus(actual).sorted(),
    }
  }

  /** spn.query (setspn -Q): every object holding the SPN. */
  async query(spn: string): Promise<SpnQueryResult> {
    const canonical = canonicalSpn(spn, 'spn')
    // Alias holders are listed too (HOST/x answers for HTTP/x): they block the SPN just the same.
    const holders = await this.#directory.findHolders([canonical])
    return { spn: canonical, holders: sortHolders(holders.get(canonical) ?? []) }
  }

  /** spn.duplicates (setspn -X): SPNs held by more than one object, compared case-insensitively. */
  async duplicates(): Promise<SpnDuplicates> {
    const byKey = new Map<string, SpnHolderEntry[]>()
    for (const holder of await this.#directory.allHolders()) {
      const key = spnKey(holder.spn)
      const list = byKey.get(key) ?? []
      if (!list.some((h) => h.dn.toLowerCase() === holder.dn.toLowerCase())) list.push(holder)
      byKey.set(key, list)
    }
    const duplicates = [...byKey.entries()]
      .filter(([, holders]) => holders.length > 1)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, holders]) => ({ spn: holders[0]!.spn, holders: sortHolders(holders) }))
    return { duplicates }
  }

  /** spn.desired: what the enabled revision wants on the account. */
  async desired(account: string): Promise<SpnDesired> {
    const revision = await this.#topology.enabled()
    const sites =
      revision?.topology.assignments.filter((a) => accountId(a.account) === account).map((a) => a.site) ?? []
    return {
      account,
      revision: revision?.revision ?? 0,
      sites: [...new Set(sites)].sort(),
      spns: desiredSpnsOf(revision, account).sorted(),
    }
  }
}

function sortHolders(holders: SpnHolderEntry[]): SpnHolder[] {
  return [...holders]
    .sort((a, b) => (a.dn.toLowerCase() < b.dn.toLowerCase() ? -1 : 1))
    .map((h) => ({ dn: h.dn, samAccountName: h.samAccountName, spn: h.spn }))
}
