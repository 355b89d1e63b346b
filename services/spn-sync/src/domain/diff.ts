import { SpnSet } from './spn.ts'

export interface DiffInput {
  /** What the revision wants on the account. */
  desired: Iterable<string>
  /** servicePrincipalName values on the account in AD now. */
  actual: Iterable<string>
  /** SPNs krbfleet wrote on the account and therefore owns (the ownership record). */
  managed: Iterable<string>
}

export interface SpnDiff {
  /** Desired and missing: to add (desired spelling). */
  add: string[]
  /** Managed, present and no longer desired: to delete (AD's stored spelling). */
  remove: string[]
  /** Present and not managed: added by someone else; never touched. */
  keepForeign: string[]
}

/**
 * What to write so the account holds every desired SPN and none of the managed SPNs it no longer
 * needs, leaving every SPN it does not manage alone. Applying it gives
 * `desired ∪ (actual − managed)` (compared case-insensitively, as AD compares).
 *
 * A desired SPN already present as a foreign value is neither added nor adopted: krbfleet only ever
 * removes what it wrote itself.
 */
export function diff(input: DiffInput): SpnDiff {
  const desired = new SpnSet(input.desired)
  const actual = new SpnSet(input.actual)
  const managed = new SpnSet(input.managed)
  const add = desired.minus(actual)
  const remove = actual.intersect(managed).minus(desired)
  const keepForeign = actual.minus(managed)
  return { add: add.sorted(), remove: remove.sorted(), keepForeign: keepForeign.sorted() }
}

/** The values of the account after applying `change` to `actual`. */
export function applyDiff(actual: Iterable<string>, change: { add: string[]; remove: string[] }): SpnSet {
  return new SpnSet(actual).minus(change.remove).union(change.add)
}

/** True when the diff writes nothing. */
export function isEmptyDiff(change: { add: string[]; remove: string[] }): boolean {
  return change.add.length === 0 && change.remove.length === 0
}
