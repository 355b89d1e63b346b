import type { AgentStatus } from '@krbfleet/contracts'

/**
 * An agent's status from its reports, pure. Each part keeps the report with the latest
 * `occurredAt`: a redelivered or late event never replaces a newer one. What the server holds
 * (`held`) comes from its heartbeats and from its install reports that say it, whichever is latest,
 * so an install is shown at once without a heartbeat of its own.
 */

type Held = Array<{ account: string; kvno: number }>

export type AgentReport =
  | {
      kind: 'heartbeat'
      at: string
      backend: 'iis' | 'keytab'
      kvnos: Held
      health?: { ok: boolean; detail?: string }
    }
  | { kind: 'staged' | 'applied'; at: string; account: string; kvno: number; held?: Held }
  | { kind: 'failed'; at: string; account?: string; kvno?: number; reason: string }
  | { kind: 'removed'; at: string; account: string }

const newer = (at: string, than: { at: string } | undefined) => !than || Date.parse(at) > Date.parse(than.at)

export function evolveAgentStatus(
  server: string,
  status: AgentStatus | null,
  report: AgentReport,
): AgentStatus {
  const next: AgentStatus = status ? { ...status } : { server }
  switch (report.kind) {
    case 'heartbeat':
      if (newer(report.at, next.lastHeartbeat)) {
        next.lastHeartbeat = {
          at: report.at,
          backend: report.backend,
          kvnos: report.kvnos,
          ...(report.health ? { health: report.health } : {}),
        }
      }
      holding(next, report.at, report.kvnos)
      break
    case 'staged':
      if (report.held) holding(next, report.at, report.held)
      break
    case 'applied':
      if (newer(report.at, next.lastApplied)) {
        next.lastApplied = { at: report.at, account: report.account, kvno: report.kvno }
      }
      if (report.held) holding(next, report.at, report.held)
      break
    case 'failed':
      if (newer(report.at, next.lastFailure)) {
        const { kind: _kind, ...failure } = report
        next.lastFailure = failure
      }
      break
    case 'removed':
      if (newer(report.at, next.lastRemoved)) next.lastRemoved = { at: report.at, account: report.account }
      break
  }
  return next
}

function holding(status: AgentStatus, at: string, kvnos: Held): void {
  if (newer(at, status.held)) status.held = { at, kvnos }
}
