/**
 * How many refused requests of one token the audit trail records one by one (pure: no timers, the
 * caller hands in the time). A refused request costs its caller nothing, so without a bound a
 * single token could write audit events until the events stream drops real ones (issue 10).
 *
 * Per token, a window opens at its first refusal and lasts `windowMs` (a minute in production).
 * The first `perWindow` refusals of a window are audited individually; every further one, and
 * every change answered 429 by the rate limit, is only counted. When the window ends, its counts
 * become one summary record; a window with nothing counted leaves no summary. So one token writes
 * at most `perWindow + 1` audit records of refusals per window, and every refused change is either
 * recorded or counted in a summary.
 */

export const SuppressionReason = {
  /** Over the per-token budget of individually audited refusals in the window. */
  Budget: 'budget',
  /** Answered 429 by the request rate limit before the change was decided. */
  RateLimited: 'rate_limited',
} as const
export type SuppressionReason = (typeof SuppressionReason)[keyof typeof SuppressionReason]

export interface RefusalWindow {
  /** `token:<name>`: whose refusals. */
  actor: string
  startedAt: number
  endsAt: number
  /** Refusals recorded one by one in this window. */
  audited: number
  /** Refusals only counted, by reason. */
  suppressed: Record<SuppressionReason, number>
  /** Counted refusals by action (`site.add`), for the summary. */
  actions: Record<string, number>
}

export interface Admission {
  audit: boolean
  opened?: RefusalWindow
  ended?: RefusalWindow
}

export interface RefusalBudgetOptions {
  /** Refusals audited individually per token and window (0: only summaries). */
  perWindow: number
  windowMs: number
}

export class RefusalBudget {
  readonly perWindow: number
  readonly windowMs: number
  readonly #windows = new Map<string, RefusalWindow>()

  constructor(options: RefusalBudgetOptions) {
    this.perWindow = options.perWindow
    this.windowMs = options.windowMs
  }

  /**
   * A refusal of `actor` at `now`: `audit` true when it is to be recorded individually, false when
   * it was counted instead (reason budget). `opened` is its window when this refusal opened it (the
   * caller arranges for it to be closed at `endsAt`); `ended` the actor's previous window when it
   * had ended but was not closed yet (a late timer): its summary is due.
   */
  admit(actor: string, action: string, now: number): Admission {
    const { window, ...changes } = this.#windowOf(actor, now)
    if (window.audited < this.perWindow) {
      window.audited++
      return { audit: true, ...changes }
    }
    this.#count(window, SuppressionReason.Budget, action)
    return { audit: false, ...changes }
  }

  /** A refused change that is never recorded individually (answered 429): counted in the window. */
  suppress(actor: string, action: string, reason: SuppressionReason, now: number): Omit<Admission, 'audit'> {
    const { window, ...changes } = this.#windowOf(actor, now)
    this.#count(window, reason, action)
    return changes
  }

  /** Removes and returns the windows that have ended by `now` (every window with `Infinity`). */
  close(now: number): RefusalWindow[] {
    const ended = [...this.#windows.values()].filter((w) => w.endsAt <= now)
    for (const window of ended) this.#windows.delete(window.actor)
    return ended
  }

  #windowOf(actor: string, now: number): { window: RefusalWindow } & Omit<Admission, 'audit'> {
    const current = this.#windows.get(actor)
    if (current && now < current.endsAt) return { window: current }
    const window: RefusalWindow = {
      actor,
      startedAt: now,
      endsAt: now + this.windowMs,
      audited: 0,
      suppressed: { budget: 0, rate_limited: 0 },
      actions: {},
    }
    this.#windows.set(actor, window)
    return { window, opened: window, ...(current ? { ended: current } : {}) }
  }

  #count(window: RefusalWindow, reason: SuppressionReason, action: string): void {
    window.suppressed[reason]++
    window.actions[action] = (window.actions[action] ?? 0) + 1
  }
}

/** Refusals counted in a window and not recorded one by one. */
export function suppressedIn(window: RefusalWindow): number {
  return window.suppressed.budget + window.suppressed.rate_limited
}

/** The detail of a window's summary record, in words (at most 1024 characters, the event's limit). */
export function summaryDetail(window: RefusalWindow, perWindow: number): string {
  const seconds = Math.round((window.endsAt - window.startedAt) / 1000)
  const reasons = [
    window.suppressed.budget > 0 ? `${window.suppressed.budget} over the budget of ${perWindow}` : '',
    window.suppressed.rate_limited > 0
      ? `${window.suppressed.rate_limited} answered 429 by the rate limit`
      : '',
  ].filter(Boolean)
  const actions = Object.entries(window.actions)
    .sort(([, a], [, b]) => b - a)
    .map(([action, n]) => `${action} ${n}`)
    .join(', ')
  const text =
    `${suppressedIn(window)} refused requests of ${window.actor} not audited individually in the ` +
    `${seconds} s from ${new Date(window.startedAt).toISOString()} (${window.audited} were): ` +
    `${reasons.join(', ')}; actions: ${actions}`
  return text.length <= 1024 ? text : `${text.slice(0, 1021)}...`
}
