import type { RotationCounts, RotationTarget, RotationView } from './rpc-account.ts'

/*
 * Counting a rotation's targets, shared by the account service (its views), the CLI and the
 * dashboard: no runtime dependency, so that the dashboard's browser bundle can take it
 * (`@krbfleet/contracts/rotation-counts`).
 */

/** Counts `targets` (a staged count includes the applied: applying implies staging). */
export function countTargets(targets: readonly RotationTarget[]): RotationCounts {
  const sites = new Map<string, RotationCounts['sites'][number]>()
  const all = { targets: 0, online: 0, staged: 0, applied: 0, failed: 0 }
  for (const t of targets) {
    let site = sites.get(t.site)
    if (!site) {
      site = { site: t.site, targets: 0, staged: 0, applied: 0, offline: 0, failed: 0 }
      sites.set(t.site, site)
    }
    const staged = t.staged || t.applied ? 1 : 0
    const failed = t.failure !== undefined && !t.applied ? 1 : 0
    all.targets++
    all.online += t.online ? 1 : 0
    all.staged += staged
    all.applied += t.applied ? 1 : 0
    all.failed += failed
    site.targets++
    site.staged += staged
    site.applied += t.applied ? 1 : 0
    site.offline += !t.online && !t.applied ? 1 : 0
    site.failed += failed
  }
  // In the targets' order (a rotation lists them by site, then server).
  return { ...all, sites: [...sites.values()] }
}

/** The view's counts: as the account service sent them, or (an older answer) from its targets. */
export const countsOf = (view: Pick<RotationView, 'targets' | 'counts'>): RotationCounts =>
  view.counts ?? countTargets(view.targets)
