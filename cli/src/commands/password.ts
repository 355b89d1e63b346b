import type { PasswordCopyResult, RotationTarget, RotationView } from '@krbfleet/contracts'
// The dependency-free module, not the package: a CLI call must not load every schema to start.
import { countsOf } from '@krbfleet/contracts/rotation-counts'
import { type CommandModule, ExitCode, UsageError, type VerbContext } from '../framework.ts'
import { table } from '../output.ts'
import { accountPath } from './account.ts'

/**
 * `krbfleet password ...`: Set-CsKerberosAccountPassword. `set` runs the two-phase rotation of an
 * account and follows it live (staged / applied per site) to a result table; `copy` is the
 * -FromComputer / -ToComputer mode; `show` prints a rotation's progress.
 */

const pollMs = 250

const finished = (view: RotationView) => view.state === 'done' || view.state === 'aborted'

/** 0 every server applied, 1 the rotation aborted or left servers behind (named in the table). */
export function exitCodeOf(view: RotationView): number {
  if (view.state !== 'done') return ExitCode.Failed
  const counts = countsOf(view)
  return counts.applied === counts.targets ? ExitCode.Ok : ExitCode.Failed
}

function bar(done: number, total: number, width = 20): string {
  const filled = total === 0 ? width : Math.round((done / total) * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
}

/** One line of progress: the step, staged and applied out of N, and per site. */
export function progressLine(view: RotationView): string {
  const { targets: n, staged, applied, sites } = countsOf(view)
  const perSite = sites.map((s) => `${s.site} ${s.applied}/${s.targets}`).join(', ')
  return `${view.state.padEnd(10)} ${bar(view.state === 'staging' ? staged : applied, n)} staged ${staged}/${n}  applied ${applied}/${n}${perSite ? `  (${perSite})` : ''}`
}

function note(t: RotationTarget, dryRun: boolean): string {
  if (t.applied) return ''
  if (dryRun) return t.online ? '' : 'offline: would catch up when it returns'
  if (t.failure) return `failed: ${t.failure}`
  if (!t.online) return 'offline: catches up when it returns'
  return t.staged ? 'staged, not applied yet' : 'not staged'
}

export function formatRotation(view: RotationView): string {
  const yes = (v: boolean) => (v ? 'yes' : 'no')
  const rows = view.targets.map((t) => ({
    server: t.server,
    site: t.site,
    online: yes(t.online),
    staged: yes(t.staged),
    applied: yes(t.applied),
    note: note(t, view.dryRun),
  }))
  const counts = countsOf(view)
  const head = view.dryRun
    ? `would rotate the password of ${view.account} (kvno ${view.previousKvno} -> ${view.kvno}) on ${counts.targets} server(s):`
    : `rotation ${view.rotationId} of ${view.account}: ${view.state}, kvno ${view.previousKvno} -> ${view.kvno}`
  const lines = [
    head,
    table(rows, [
      ['server', 'SERVER'],
      ['site', 'SITE'],
      ['online', 'ONLINE'],
      ['staged', 'STAGED'],
      ['applied', 'APPLIED'],
      ['note', 'NOTE'],
    ]),
  ]
  const unlisted = counts.targets - view.targets.length
  if (unlisted > 0) {
    const done = counts.applied - view.targets.filter((t) => t.applied).length
    lines.push(
      `... and ${unlisted} more server(s) not listed (${done} of them applied; \`--json\` gives the counts)`,
    )
  }
  if (!view.dryRun && finished(view)) {
    lines.push(
      view.state === 'aborted'
        ? `aborted: ${view.reason ?? 'unknown reason'}; AD keeps its password, the servers keep their key`
        : `${counts.applied}/${counts.targets} server(s) hold kvno ${view.kvno}${view.reason ? `; ${view.reason}` : ''}`,
    )
  }
  return lines.join('\n')
}

/** Polls the rotation until it ends, drawing its progress on standard error. */
async function follow(ctx: VerbContext, start: RotationView, timeoutMs: number): Promise<RotationView> {
  const client = ctx.client()
  const terminal = ctx.io.stderrIsTerminal === true
  const deadline = Date.now() + timeoutMs
  let view = start
  let last = ''
  for (;;) {
    const line = progressLine(view)
    if (line !== last) {
      ctx.io.stderr(terminal ? `\r\x1b[2K${line}` : `${line}\n`)
      last = line
    }
    if (finished(view)) break
    if (Date.now() > deadline) {
      if (terminal) ctx.io.stderr('\n')
      throw new Error(
        `the rotation ${view.rotationId} is still ${view.state} after ${Math.round(timeoutMs / 1000)} s; it goes on: \`krbfleet password show ${view.rotationId}\``,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs))
    view = await client.get<RotationView>(`/v1/rotations/${encodeURIComponent(view.rotationId)}`)
  }
  if (terminal) ctx.io.stderr('\n')
  return view
}

/** `--<option>` in seconds (or `fallbackSeconds`), as milliseconds. */
function seconds(value: unknown, option: string, fallbackSeconds: number): number {
  if (value === undefined) return fallbackSeconds * 1000
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0 || n > 86_400)
    throw new UsageError(`--${option} must be a number of seconds from 1 to 86400`)
  return n * 1000
}

export const passwordCommands: CommandModule = {
  area: 'password',
  summary: 'rotate an account password on AD and every web server (Set-CsKerberosAccountPassword)',
  verbs: {
    set: {
      summary:
        'rotate DOMAIN\\NAME: stage the new key on every server, reset AD, activate; shows progress, ends with a table',
      args: ['ACCOUNT'],
      change: true,
      options: {
        wait: { type: 'boolean', negatable: true, description: 'follow the rotation to its end (default)' },
        timeout: {
          type: 'string',
          description: 'seconds to follow it before giving up watching (default 600)',
        },
      },
      async run(ctx) {
        const timeoutMs = seconds(ctx.options.timeout, 'timeout', 600)
        const started = await ctx
          .client()
          .post<RotationView>(
            `${accountPath(ctx.args.ACCOUNT!)}/password`,
            undefined,
            ctx.dryRun ? { dryRun: true } : {},
          )
        if (started.dryRun || ctx.options.wait === false) {
          ctx.print(started, () =>
            started.dryRun
              ? formatRotation(started)
              : `rotation ${started.rotationId} of ${started.account} started (${countsOf(started).targets} server(s)): \`krbfleet password show ${started.rotationId}\``,
          )
          return ExitCode.Ok
        }
        const view = await follow(ctx, started, timeoutMs)
        ctx.print(view, () => formatRotation(view))
        return exitCodeOf(view)
      },
    },
    show: {
      summary: "a rotation's progress: by rotation id, or the running (else latest) one of DOMAIN\\NAME",
      args: ['ROTATION'],
      async run(ctx) {
        const value = ctx.args.ROTATION!
        const view = value.startsWith('rot-')
          ? await ctx.client().get<RotationView>(`/v1/rotations/${encodeURIComponent(value)}`)
          : await ctx.client().get<RotationView>(`${accountPath(value)}/rotation`)
        ctx.print(view, () => formatRotation(view))
        return finished(view) ? exitCodeOf(view) : ExitCode.Ok
      },
    },
    copy: {
      summary: 'give --to SERVER the credential --from SERVER holds (same account; AD untouched)',
      change: true,
      options: {
        from: { type: 'string', description: 'the server whose credential is copied' },
        to: { type: 'string', description: 'the server that gets it' },
      },
      async run(ctx) {
        const from = ctx.options.from
        const to = ctx.options.to
        if (typeof from !== 'string' || typeof to !== 'string')
          throw new UsageError('--from SERVER and --to SERVER are required')
        const result = await ctx
          .client()
          .post<PasswordCopyResult>('/v1/password-copy', { from, to }, ctx.dryRun ? { dryRun: true } : {})
        ctx.print(
          result,
          () =>
            `${result.dryRun ? 'would give' : 'gave'} ${result.to} the credential of ${result.account} (kvno ${result.kvno}) that ${result.from} holds; its agent installs it`,
        )
        return ExitCode.Ok
      },
    },
  },
}
