import type { AccountChange, AccountTestReport, AccountView } from '@krbfleet/contracts'
import { type CommandModule, ExitCode, type VerbContext } from '../framework.ts'

/**
 * `krbfleet account ...`: Lync's New-CsKerberosAccount and the AD half of
 * Set-CsKerberosAccountPassword, through the console's /v1/accounts routes.
 */

/** `CORP\KERBAUTH` in a URL path: the backslash is encoded (the console accepts CORP.KERBAUTH too). */
export function accountPath(account: string): string {
  return `v1/accounts/${encodeURIComponent(account)}`
}

function dryRunQuery(ctx: VerbContext): { dryRun?: boolean } {
  return ctx.dryRun ? { dryRun: true } : {}
}

export function formatChange(change: AccountChange): string {
  const verb = {
    create: ['would create', 'created'],
    adopt: ['would adopt', 'adopted'],
    remove: ['would remove', 'removed'],
    'password-reset': ['would reset the password of', 'reset the password of'],
  }[change.action]
  const lines = [`${change.dryRun ? verb[0] : verb[1]} ${change.account} (${change.dn})`]
  for (const [name, value] of Object.entries(change.attributes)) {
    lines.push(`  ${name}: ${Array.isArray(value) ? value.join(', ') : value}`)
  }
  if (change.kvno !== null) lines.push(`  kvno: ${change.kvno}`)
  return lines.join('\n')
}

export function formatView(view: AccountView): string {
  const rows: Array<[string, string]> = [
    ['account', view.account],
    ['dn', view.dn || '-'],
    ['in directory', view.existsInDirectory ? 'yes' : 'NO'],
    ['managed by krbfleet', view.managed ? (view.adopted ? 'yes (adopted)' : 'yes') : 'no'],
    ['dNSHostName', view.dnsHostName ?? '-'],
    ['userAccountControl', view.userAccountControl === null ? '-' : String(view.userAccountControl)],
    [
      'encryption types',
      view.encryptionTypes === null
        ? '-'
        : `${view.encryptionTypes} (${view.encryptionTypeNames.join(', ')})`,
    ],
    ['kvno (AD)', view.kvno === null ? '-' : String(view.kvno)],
    ['kvno (sealed secret)', view.secretKvno === null ? '-' : String(view.secretKvno)],
    ['password last set', view.passwordLastSet ?? '-'],
    ...(view.nextRotation === undefined
      ? []
      : ([['next rotation', view.nextRotation ?? '-']] as Array<[string, string]>)),
    ['SPNs', view.servicePrincipalNames.join(', ') || '-'],
  ]
  return rows.map(([k, v]) => `${k.padEnd(21)} ${v}`).join('\n')
}

export function formatList(accounts: AccountView[]): string {
  if (accounts.length === 0) return 'no accounts'
  const header = ['ACCOUNT', 'KVNO', 'ENCTYPES', 'MANAGED', 'DN']
  const rows = accounts.map((a) => [
    a.account,
    a.kvno === null ? '-' : String(a.kvno),
    a.encryptionTypes === null ? '-' : String(a.encryptionTypes),
    a.managed ? 'yes' : a.existsInDirectory ? 'marked only' : 'record only',
    a.dn,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export function formatReport(report: AccountTestReport): string {
  const lines = [`${report.account}: ${report.outcome.toUpperCase()}`]
  for (const c of report.checks) lines.push(`  [${c.status.padEnd(7)}] ${c.check.padEnd(20)} ${c.detail}`)
  return lines.join('\n')
}

/** `krbfleet test account DOMAIN\NAME` and `krbfleet account test DOMAIN\NAME` share this. */
export async function runAccountTest(ctx: VerbContext): Promise<ExitCode> {
  const report = await ctx.client().post<AccountTestReport>(`${accountPath(ctx.args.ACCOUNT!)}/test`)
  ctx.print(report, () => formatReport(report))
  return report.outcome === 'fail' ? ExitCode.Failed : ExitCode.Ok
}

export const accountCommands: CommandModule = {
  area: 'account',
  summary: 'Kerberos computer accounts in AD (New-CsKerberosAccount)',
  verbs: {
    new: {
      summary: 'create the computer account DOMAIN\\NAME (or adopt an existing one with --adopt)',
      args: ['ACCOUNT'],
      change: true,
      options: {
        'container-dn': { type: 'string', description: 'container for the account (default CN=Computers)' },
        'encryption-types': { type: 'string', description: 'aes (default), aes128, aes256, rc4, comma list' },
        adopt: { type: 'boolean', description: 'manage an existing account (resets its password)' },
      },
      async run(ctx) {
        const body: Record<string, unknown> = { account: ctx.args.ACCOUNT!, ...dryRunQuery(ctx) }
        if (ctx.options['container-dn'] !== undefined) body.containerDn = ctx.options['container-dn']
        if (ctx.options['encryption-types'] !== undefined)
          body.encryptionTypes = ctx.options['encryption-types']
        if (ctx.options.adopt === true) body.adopt = true
        const change = await ctx.client().post<AccountChange>('v1/accounts', body)
        ctx.print(change, () => formatChange(change))
        return ExitCode.Ok
      },
    },
    list: {
      summary: 'list the accounts krbfleet manages',
      async run(ctx) {
        const { accounts } = await ctx.client().get<{ accounts: AccountView[] }>('v1/accounts')
        ctx.print(accounts, () => formatList(accounts))
        return ExitCode.Ok
      },
    },
    show: {
      summary: 'show one account: AD attributes, kvno, managed state',
      args: ['ACCOUNT'],
      async run(ctx) {
        const view = await ctx.client().get<AccountView>(accountPath(ctx.args.ACCOUNT!))
        ctx.print(view, () => formatView(view))
        return ExitCode.Ok
      },
    },
    remove: {
      summary: 'delete the account from AD and forget its sealed secret',
      args: ['ACCOUNT'],
      change: true,
      options: {
        force: {
          type: 'boolean',
          description: 'remove even while the enabled topology still assigns it to sites',
        },
      },
      async run(ctx) {
        const query = { ...dryRunQuery(ctx), ...(ctx.options.force === true ? { force: true } : {}) }
        const change = await ctx.client().delete<AccountChange>(accountPath(ctx.args.ACCOUNT!), query)
        ctx.print(change, () => formatChange(change))
        return ExitCode.Ok
      },
    },
    'reset-password': {
      summary: 'reset the password in AD to a new random one, kept sealed at rest (prints the new kvno)',
      args: ['ACCOUNT'],
      change: true,
      async run(ctx) {
        const change = await ctx
          .client()
          .post<AccountChange>(
            `${accountPath(ctx.args.ACCOUNT!)}/password-reset`,
            undefined,
            dryRunQuery(ctx),
          )
        ctx.print(change, () => formatChange(change))
        return ExitCode.Ok
      },
    },
    test: {
      summary: 'test the account (same as krbfleet test account)',
      args: ['ACCOUNT'],
      run: runAccountTest,
    },
  },
}
