import type {
  SpnDesired,
  SpnDuplicates,
  SpnListing,
  SpnPlan,
  SpnQueryResult,
  SpnReconcileResult,
} from '@krbfleet/contracts'
import { type CommandModule, ExitCode, type VerbContext } from '../framework.ts'
import { table } from '../output.ts'
import { blockedLines, blockedSpns } from './enable.ts'

/**
 * `krbfleet spn ...`: setspn -L / -Q / -X for the accounts krbfleet manages, and the SPN half of
 * Enable-CsTopology (`plan` shows the diff spn-sync would write; `reconcile` makes it write now),
 * through the console's /v1/spn routes.
 */

/** `CORP\KERBAUTH` in a URL path (the console also accepts CORP.KERBAUTH). */
function spnAccountPath(account: string): string {
  return `v1/spn/accounts/${encodeURIComponent(account)}`
}

export function formatPlan(plan: SpnPlan): string {
  if (plan.revision === 0) return 'no topology revision is enabled: nothing to plan'
  const lines = [`topology revision ${plan.revision}`]
  if (plan.accounts.length === 0) lines.push('no accounts are assigned')
  for (const a of plan.accounts) {
    if (a.dn === null) {
      lines.push(`${a.account}: NOT IN THE DIRECTORY (${a.desired.length} SPNs wait for it)`)
      continue
    }
    const inSync = a.add.length === 0 && a.remove.length === 0 && a.conflicts.length === 0
    lines.push(`${a.account} (${a.dn})${inSync ? `: in sync, ${a.desired.length} SPNs` : ''}`)
    for (const spn of a.add) lines.push(`  + ${spn}`)
    for (const spn of a.remove) lines.push(`  - ${spn}`)
    for (const c of a.conflicts) lines.push(`  ! ${c.spn}  held by ${c.holder} (not written)`)
    if (a.keepForeign.length > 0)
      lines.push(`  = ${a.keepForeign.length} SPN(s) not managed by krbfleet, kept`)
  }
  lines.push(...blockedLines(blockedSpns(plan)))
  return lines.join('\n')
}

export function formatListing(listing: SpnListing): string {
  const lines = [`Registered ServicePrincipalNames for ${listing.dn}:`]
  lines.push(
    table(
      listing.spns.map((s) => ({
        spn: s.spn,
        managed: s.managed ? 'krbfleet' : 'foreign',
        desired: s.desired ? 'yes' : 'no',
      })),
      [
        ['spn', 'SPN'],
        ['managed', 'OWNER'],
        ['desired', 'DESIRED'],
      ],
    ),
  )
  if (listing.missing.length > 0)
    lines.push(`missing (desired by revision ${listing.revision}): ${listing.missing.join(', ')}`)
  return lines.join('\n')
}

export function formatQuery(result: SpnQueryResult): string {
  if (result.holders.length === 0) return `${result.spn}: no such SPN found`
  return [
    `${result.spn} is held by:`,
    table(
      result.holders.map((h) => ({ ...h })),
      [
        ['dn', 'DN'],
        ['samAccountName', 'ACCOUNT'],
        ['spn', 'AS'],
      ],
    ),
  ].join('\n')
}

export function formatDuplicates(result: SpnDuplicates): string {
  if (result.duplicates.length === 0) return 'found 0 duplicate SPNs'
  const lines = [`found ${result.duplicates.length} duplicate SPN(s):`]
  for (const d of result.duplicates) {
    lines.push(d.spn)
    for (const h of d.holders) lines.push(`  ${h.dn}${h.spn === d.spn ? '' : ` (as ${h.spn})`}`)
  }
  return lines.join('\n')
}

export function formatDesired(desired: SpnDesired): string {
  const head = `${desired.account} in revision ${desired.revision}: sites ${desired.sites.join(', ') || '(none)'}`
  return [head, ...desired.spns.map((s) => `  ${s}`)].join('\n')
}

export function formatReconcile(result: SpnReconcileResult): string {
  const lines = [`reconciled against topology revision ${result.revision}`]
  for (const a of result.accounts) {
    lines.push(`${a.account}: ${a.outcome}${a.error ? ` (${a.error})` : ''}`)
    for (const spn of a.added) lines.push(`  + ${spn}`)
    for (const spn of a.removed) lines.push(`  - ${spn}`)
    for (const c of a.conflicts) lines.push(`  ! ${c.spn}  held by ${c.holder}`)
  }
  lines.push(...blockedLines(blockedSpns(result)))
  return lines.join('\n')
}

function accountOption(ctx: VerbContext): { account?: string } {
  const account = ctx.options.account
  return typeof account === 'string' ? { account } : {}
}

export const spnCommands: CommandModule = {
  area: 'spn',
  summary: 'service principal names in AD (setspn -L/-Q/-X, the SPN half of Enable-CsTopology)',
  verbs: {
    plan: {
      summary: 'show what spn-sync would add and remove (the diff; writes nothing)',
      options: { account: { type: 'string', description: 'only this DOMAIN\\NAME' } },
      async run(ctx) {
        const plan = await ctx.client().get<SpnPlan>('v1/spn/plan', accountOption(ctx))
        ctx.print(plan, () => formatPlan(plan))
        return blockedSpns(plan).length > 0 ? ExitCode.Failed : ExitCode.Ok
      },
    },
    list: {
      summary: 'list the SPNs on the account DOMAIN\\NAME, managed or foreign (setspn -L)',
      args: ['ACCOUNT'],
      async run(ctx) {
        const listing = await ctx.client().get<SpnListing>(spnAccountPath(ctx.args.ACCOUNT!))
        ctx.print(listing, () => formatListing(listing))
        return ExitCode.Ok
      },
    },
    query: {
      summary: 'find the objects holding SPN, or an alias of it (setspn -Q)',
      args: ['SPN'],
      async run(ctx) {
        const result = await ctx.client().get<SpnQueryResult>('v1/spn/query', { spn: ctx.args.SPN! })
        ctx.print(result, () => formatQuery(result))
        return ExitCode.Ok
      },
    },
    duplicates: {
      summary: 'list SPNs held by more than one object (setspn -X)',
      async run(ctx) {
        const result = await ctx.client().get<SpnDuplicates>('v1/spn/duplicates')
        ctx.print(result, () => formatDuplicates(result))
        return ExitCode.Ok
      },
    },
    desired: {
      summary: 'the SPNs the enabled topology wants on DOMAIN\\NAME',
      args: ['ACCOUNT'],
      async run(ctx) {
        const desired = await ctx.client().get<SpnDesired>(`${spnAccountPath(ctx.args.ACCOUNT!)}/desired`)
        ctx.print(desired, () => formatDesired(desired))
        return ExitCode.Ok
      },
    },
    reconcile: {
      summary: 'make spn-sync reconcile every account (or --account) now; --dry-run shows the plan',
      options: { account: { type: 'string', description: 'only this DOMAIN\\NAME' } },
      change: true,
      async run(ctx) {
        if (ctx.dryRun) {
          const plan = await ctx
            .client()
            .post<SpnPlan>('v1/spn/reconcile', accountOption(ctx), { dryRun: true })
          ctx.print(plan, () => formatPlan(plan))
          return blockedSpns(plan).length > 0 ? ExitCode.Failed : ExitCode.Ok
        }
        const result = await ctx.client().post<SpnReconcileResult>('v1/spn/reconcile', accountOption(ctx))
        ctx.print(result, () => formatReconcile(result))
        const failed = result.accounts.some((a) => a.outcome === 'failed')
        return failed || blockedSpns(result).length > 0 ? ExitCode.Failed : ExitCode.Ok
      },
    },
  },
}
