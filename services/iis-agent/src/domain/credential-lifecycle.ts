/**
 * What an agent holds for one account during the two-phase rotation (docs/ARCHITECTURE.md, "The
 * rotation protocol"): the active kvno, at most one staged kvno, and old kvnos kept until every
 * ticket issued for them has expired. A keytab backend writes every kvno of `kvnosToHold`; the IIS
 * backend switches its password on activate. Pure: no I/O, time is passed in.
 */

export interface RetiringKey {
  kvno: number
  /** ISO time after which no valid ticket can still name this kvno. */
  retireAt: string
}

export interface CredentialLifecycle {
  account: string
  active: number | null
  staged: number | null
  retiring: RetiringKey[]
}

export type LifecycleEvent =
  | { kind: 'staged'; kvno: number }
  | { kind: 'activated'; kvno: number; at: string; maxTicketLifetimeMs: number }
  | { kind: 'aborted'; kvno: number }
  | { kind: 'expired'; now: string }

export class LifecycleError extends Error {
  override name = 'LifecycleError'
}

export const initialLifecycle = (account: string): CredentialLifecycle => ({
  account,
  active: null,
  staged: null,
  retiring: [],
})

/** Applies one event; refuses transitions the protocol does not allow (older kvnos never win). */
export function evolveLifecycle(state: CredentialLifecycle, event: LifecycleEvent): CredentialLifecycle {
  switch (event.kind) {
    case 'staged': {
      if (state.active !== null && event.kvno <= state.active) {
        throw new LifecycleError(`kvno ${event.kvno} is not newer than the active kvno ${state.active}`)
      }
      return { ...state, staged: event.kvno }
    }
    case 'activated': {
      if (state.active === event.kvno) return state // a redelivered activation changes nothing
      if (state.active !== null && event.kvno < state.active) {
        throw new LifecycleError(`kvno ${event.kvno} is older than the active kvno ${state.active}`)
      }
      const retireAt = new Date(Date.parse(event.at) + event.maxTicketLifetimeMs).toISOString()
      const retiring =
        state.active === null ? state.retiring : [...state.retiring, { kvno: state.active, retireAt }]
      return {
        ...state,
        active: event.kvno,
        staged: state.staged === event.kvno ? null : state.staged,
        retiring,
      }
    }
    case 'aborted':
      return state.staged === event.kvno ? { ...state, staged: null } : state
    case 'expired': {
      const now = Date.parse(event.now)
      return { ...state, retiring: state.retiring.filter((r) => Date.parse(r.retireAt) > now) }
    }
  }
}

/** Every kvno whose keys must be installed now: staged and active ones, and retiring ones still valid. */
export function kvnosToHold(state: CredentialLifecycle): number[] {
  const kvnos = new Set<number>(state.retiring.map((r) => r.kvno))
  if (state.active !== null) kvnos.add(state.active)
  if (state.staged !== null) kvnos.add(state.staged)
  return [...kvnos].sort((a, b) => b - a)
}
