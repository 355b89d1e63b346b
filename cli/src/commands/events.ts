import type { EventEnvelope } from '@krbfleet/contracts'
import { type CommandModule, ExitCode, UsageError } from '../framework.ts'

/**
 * `krbfleet events`: the event stream, filtered, as one line per event (human) or one JSON object
 * per line (`--json`, for scripts and log shippers). `--follow` keeps reading as events arrive
 * (every 500 ms from where the last answer ended) until interrupted.
 */

type Logged = { seq: number } & EventEnvelope

/** `2026-12-04T21:42:24.177Z  account.PasswordRotated  account=CORP\KERBAUTH kvno=3  by token:ops (rot-...)` */
export function formatEvent(e: Logged): string {
  const [, domain, name] = e.type.split('.')
  const data = Object.entries((e.data ?? {}) as Record<string, unknown>)
    .map(([k, v]) => `${k}=${heldList(v) ?? (typeof v === 'object' ? JSON.stringify(v) : String(v))}`)
    .join(' ')
  const correlation = e.correlationId && e.correlationId !== e.id ? ` (${e.correlationId})` : ''
  return `${e.occurredAt}  ${domain}.${name}  ${data}  by ${e.actor}${correlation}`
}

/** Kvnos held (a heartbeat's `kvnos`, an install's `held`) as `CORP\KERBAUTH:4,3`; undefined: not such a list. */
function heldList(value: unknown): string | undefined {
  if (!Array.isArray(value)) return undefined
  const byAccount = new Map<string, number[]>()
  for (const item of value) {
    const { account, kvno } = (item ?? {}) as { account?: unknown; kvno?: unknown }
    if (typeof account !== 'string' || typeof kvno !== 'number') return undefined
    byAccount.set(account, [...(byAccount.get(account) ?? []), kvno])
  }
  return [...byAccount].map(([account, kvnos]) => `${account}:${kvnos.join(',')}`).join(';') || '-'
}

const pollMs = 500

export const eventsCommands: CommandModule = {
  area: 'events',
  summary: 'the event stream: what happened, filtered; --follow for live (heartbeats only with --type)',
  defaultVerb: 'list',
  verbs: {
    list: {
      summary: 'events since --since (default 1h), oldest first; --follow keeps reading',
      options: {
        follow: { type: 'boolean', description: 'keep reading new events until interrupted' },
        type: { type: 'string', description: 'an event name (PasswordRotated) or full type' },
        site: { type: 'string' },
        account: { type: 'string', description: 'DOMAIN\\NAME' },
        server: { type: 'string' },
        since: { type: 'string', description: 'a duration (30s, 15m, 2h, 7d) or an ISO time (default 1h)' },
        limit: { type: 'string', description: 'at most this many per read (1-1000, default 100)' },
      },
      async run(ctx) {
        const query: Record<string, string> = {}
        for (const name of ['type', 'site', 'account', 'server', 'since', 'limit'] as const) {
          const value = ctx.options[name]
          if (typeof value === 'string') query[name] = value
        }
        if (query.limit !== undefined && !/^\d{1,4}$/.test(query.limit)) {
          throw new UsageError('--limit must be a whole number from 1 to 1000')
        }
        const client = ctx.client()
        const print = (events: Logged[]) => {
          for (const e of events) ctx.io.stdout(ctx.json ? `${JSON.stringify(e)}\n` : `${formatEvent(e)}\n`)
        }
        let page = await client.get<{ events: Logged[]; next: number }>('/v1/events', query)
        print(page.events)
        if (ctx.options.follow !== true) {
          if (!ctx.json && page.events.length === 0) ctx.io.stderr('no events\n')
          return ExitCode.Ok
        }
        const { since: _since, ...live } = query
        for (;;) {
          await new Promise((resolve) => setTimeout(resolve, pollMs))
          page = await client.get<{ events: Logged[]; next: number }>('/v1/events', {
            ...live,
            from: String(page.next),
          })
          print(page.events)
        }
      },
    },
  },
}
