import type { SpnConflict, SpnPlan } from '@krbfleet/contracts'
import { ApiError } from '../client.ts'
import { ExitCode, type VerbContext, type VerbSpec } from '../framework.ts'
import { type ChangeLike, diffLines } from '../output.ts'

/**
 * `krbfleet topology enable` (Enable-CsTopology). Enabling the same draft twice publishes it once
 * (the topology service answers with the revision already enabled), so an answer lost on the way
 * (the console or NATS went away, a 504) is retried once and the outcome said plainly. Afterwards
 * the SPN plan of the new revision is read: a desired SPN that another object holds is not written
 * by spn-sync, so enable exits 1 and names the holder.
 */

interface EnableOutcome extends ChangeLike {
  /** Set when the first answer was lost and the call was repeated. */
  retried?: { after: string }
  /** Desired SPNs of the enabled revision that other objects hold (not written to AD). */
  blocked?: BlockedSpn[]
  /** Why the SPN plan could not be read after enabling (spn-sync not answering). */
  spnCheck?: string
}

export interface BlockedSpn extends SpnConflict {
  account: string
}

/** An answer that may have been lost after the request took effect: worth one retry. */
function lostAnswer(err: unknown): err is ApiError {
  return err instanceof ApiError && (err.status === 0 || err.status === 502 || err.status === 504)
}

/** The conflicts of a plan or a reconcile result, each with its account. */
export function blockedSpns(result: {
  accounts: ReadonlyArray<{ account: string; conflicts: readonly SpnConflict[] }>
}): BlockedSpn[] {
  return result.accounts.flatMap((a) => a.conflicts.map((c) => ({ account: a.account, ...c })))
}

/** Lines naming each blocked SPN, its holder and what to do; empty when nothing is blocked. */
export function blockedLines(blocked: BlockedSpn[]): string[] {
  if (blocked.length === 0) return []
  return [
    `${blocked.length} desired SPN(s) blocked, not written to AD (another object holds them):`,
    ...blocked.map((b) => `  ${b.spn} for ${b.account}: held by ${b.holder}`),
    'remove the SPN from its holder (krbfleet spn query SPN shows it), or change the topology',
  ]
}

export function enableSentence(result: EnableOutcome): string[] {
  const n = result.enabledRevision
  const changed = (result.changes ?? []).length > 0
  const diff = diffLines(result.diff ?? {})
  const lines: string[] = []
  if (result.retried) {
    lines.push(
      changed
        ? `the answer was lost (${result.retried.after}); the retry found the draft not yet published and published it`
        : `the answer was lost (${result.retried.after}); the retry found the draft already enabled: it was published once`,
    )
  }
  if (result.dryRun) {
    lines.push(
      changed
        ? `dry run: enabling would publish the draft as revision ${(n ?? 0) + 1} (revision ${n} stays enabled until then); nothing written`
        : `dry run: nothing to enable, the draft is already enabled as revision ${n}`,
    )
  } else {
    lines.push(
      changed
        ? `enabled the draft as revision ${n}${diff.length > 0 ? ', changing:' : ''}`
        : `nothing to enable: the draft is already enabled as revision ${n}`,
    )
  }
  if (changed || result.dryRun) lines.push(...diff)
  lines.push(...blockedLines(result.blocked ?? []))
  if (result.spnCheck) lines.push(result.spnCheck)
  return lines
}

async function enable(ctx: VerbContext): Promise<number> {
  const send = () =>
    ctx.client().post<ChangeLike>('/v1/topology/enable', undefined, ctx.dryRun ? { dryRun: true } : undefined)
  let outcome: EnableOutcome
  try {
    outcome = await send()
  } catch (err) {
    if (!lostAnswer(err)) throw err
    outcome = { ...(await send()), retried: { after: err.status === 0 ? err.message : `HTTP ${err.status}` } }
  }
  if (!outcome.dryRun) {
    try {
      outcome.blocked = blockedSpns(await ctx.client().get<SpnPlan>('v1/spn/plan'))
    } catch (err) {
      // The revision is enabled either way; spn-sync writes it when it is back.
      if (!(err instanceof ApiError)) throw err
      outcome.spnCheck = `could not check the SPNs of the new revision: ${err.message}`
    }
  }
  ctx.print(outcome, () => enableSentence(outcome).join('\n'))
  return (outcome.blocked ?? []).length > 0 ? ExitCode.Failed : ExitCode.Ok
}

export const enableVerb: VerbSpec = {
  summary: 'publish the draft as the next enabled revision (exit 1 when a desired SPN is blocked)',
  change: true,
  run: enable,
}
