import type { AgentStatus } from '@krbfleet/contracts'

/**
 * An agent's status from its reports, pure. Each part keeps the report with the latest
 * `occurredAt`: a redelivered or late event never replaces a newer one.
 */

export type AgentReport =
  | {
      kind: 'heartbeat'
      at: string
      backend: 'iis' | 'keytab'
      kvnos: Array<{ account: string; kvno: number }>
      health?: { ok: boolean; detail?: string }
    }
  | { kind: 'applied'; at: string; account: string; kvno: number }
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
      break
    case 'applied':
      if (newer(report.at, next.lastApplied)) {
        next.lastApplied = { at: report.at, account: report.account, kvno: report.kvno }
      }
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
