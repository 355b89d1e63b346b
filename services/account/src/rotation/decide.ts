import {
  type AgentStatus,
  heldKvnos,
  type RotationTarget,
  rotationStartedTargetsListed,
  type TopologyDocument,
} from '@krbfleet/contracts'
import { servedServers } from '../domain/deliveries.ts'
import type { RotationRecord } from './model.ts'

/**
 * The rotation saga's decisions (ARCHITECTURE.md, "The rotation protocol"), pure: which servers a
 * rotation targets, what an agent's report changes, and what the saga does next. The saga
 * (saga.ts) reads the world, asks here, and acts.
 */

/** Every server of every site assigned to `account` in the enabled revision, with its agent's liveness. */
export function planTargets(
  topology: TopologyDocument | null,
  account: string,
  statuses: ReadonlyMap<string, AgentStatus>,
  now: Date,
  onlineWithinMs: number,
): RotationTarget[] {
  return servedServers(topology)
    .filter((s) => s.account?.toUpperCase() === account.toUpperCase())
    .map((s) => ({
      server: s.server,
      site: s.site,
      pool: s.pool,
      online: s.encryptionKey !== undefined && isOnline(statuses.get(s.server), now, onlineWithinMs),
      staged: false,
      applied: false,
    }))
    .sort((a, b) => a.site.localeCompare(b.site) || a.server.localeCompare(b.server))
}

/**
 * The servers a PasswordRotationStarted names: every target, or the first
 * `rotationStartedTargetsListed` by name and their count (the event must fit the events stream).
 */
export function startedTargets(record: Pick<RotationRecord, 'targets'>): {
  targets: string[]
  targetCount?: number
} {
  const servers = record.targets.map((t) => t.server)
  if (servers.length <= rotationStartedTargetsListed) return { targets: servers }
  return {
    targets: [...servers].sort().slice(0, rotationStartedTargetsListed),
    targetCount: servers.length,
  }
}

/** An agent is online when its last heartbeat is recent. */
export function isOnline(status: AgentStatus | undefined, now: Date, withinMs: number): boolean {
  const at = status?.lastHeartbeat?.at
  return at !== undefined && now.getTime() - Date.parse(at) <= withinMs
}

/** What an agent said about a credential of the rotation's account. */
export interface AgentReport {
  kind: 'staged' | 'applied' | 'failed'
  server: string
  account: string
  kvno: number
  reason?: string
}

/**
 * The record with one report counted; null when it changes nothing (another account or kvno,
 * not a target, already counted). A report makes its agent online: it answered.
 */
export function countReport(record: RotationRecord, report: AgentReport): RotationRecord | null {
  if (report.account.toUpperCase() !== record.account.toUpperCase() || report.kvno !== record.kvno)
    return null
  const index = record.targets.findIndex((t) => t.server === report.server)
  const target = record.targets[index]
  if (!target) return null
  let next: RotationTarget
  if (report.kind === 'staged') {
    if (target.staged && target.online && !target.failure) return null
    // A failure before (a retry that then succeeded) no longer stands.
    const { failure: _cleared, ...rest } = target
    next = { ...rest, online: true, staged: true }
  } else if (report.kind === 'applied') {
    if (target.applied && target.staged && target.online && !target.failure) return null
    const { failure: _cleared, ...rest } = target
    next = { ...rest, online: true, staged: true, applied: true }
  } else {
    const failure = (report.reason ?? 'failed').slice(0, 1024)
    if (target.failure === failure) return null
    next = { ...target, online: true, failure }
  }
  const targets = [...record.targets]
  targets[index] = next
  return { ...record, targets }
}

/**
 * The record as the agents' last known state shows it (the agents bucket: the kvnos its latest
 * heartbeat or install report said it holds, the last credential applied): what a saga resumed
 * after a crash counts for the reports it missed. Null when nothing changes.
 */
export function countStatuses(
  record: RotationRecord,
  statuses: ReadonlyMap<string, AgentStatus>,
  now: Date,
  onlineWithinMs: number,
): RotationRecord | null {
  let changed = false
  const targets = record.targets.map((t) => {
    const status = statuses.get(t.server)
    const holds = holdsKvno(status, record)
    const applied =
      record.state === 'activating' &&
      status?.lastApplied?.kvno === record.kvno &&
      sameAccount(status.lastApplied.account, record.account)
    const online = t.online || isOnline(status, now, onlineWithinMs)
    const next = { ...t, online, staged: t.staged || holds || applied, applied: t.applied || applied }
    if (next.online !== t.online || next.staged !== t.staged || next.applied !== t.applied) changed = true
    return next
  })
  return changed ? { ...record, targets } : null
}

const sameAccount = (a: string, b: string) => a.toUpperCase() === b.toUpperCase()

/** The status says its server holds the rotation's kvno of the rotation's account. */
function holdsKvno(
  status: AgentStatus | undefined,
  record: Pick<RotationRecord, 'account' | 'kvno'>,
): boolean {
  return heldKvnos(status).some((k) => sameAccount(k.account, record.account) && k.kvno === record.kvno)
}

/** Whether a target has done what the step in progress asks of it: staged (or applied). */
export function hasDoneStep(record: Pick<RotationRecord, 'state'>, target: RotationTarget): boolean {
  return record.state === 'staging' ? target.staged : target.applied
}

/** A target the step in progress still waits for: online, no failure, not yet staged (or applied). */
export function isAwaited(record: Pick<RotationRecord, 'state'>, target: RotationTarget): boolean {
  return target.online && !target.failure && !hasDoneStep(record, target)
}

/**
 * The record with every awaited target whose agent went silent counted offline (its last heartbeat
 * older than `onlineWithinMs`, or none): a site whose leaf node or link went down mid-rotation stops
 * holding the others back; its agents catch up when they return (their report still counts).
 * Silence counts only while others are heard: when no target's heartbeat is within the window
 * (the hub's JetStream electing a leader, the heartbeat path down), nobody is judged. `statuses`
 * are therefore those of every target. Null when nothing changes.
 */
export function countSilent(
  record: RotationRecord,
  statuses: ReadonlyMap<string, AgentStatus>,
  now: Date,
  onlineWithinMs: number,
): RotationRecord | null {
  const heard = [...statuses.values()].some((s) => isOnline(s, now, onlineWithinMs))
  if (!heard) return null
  let changed = false
  const targets = record.targets.map((t) => {
    if (!isAwaited(record, t) || isOnline(statuses.get(t.server), now, onlineWithinMs)) return t
    changed = true
    return { ...t, online: false }
  })
  return changed ? { ...record, targets } : null
}

/**
 * A done rotation as its agents stand now: a target it finished without (offline) whose agent has
 * since applied the rotation's kvno or a later one of the account (its site came back and caught
 * up) counts applied, so its site is no longer pending, nor named in the reason. For the view:
 * the record stays as the rotation left it. Null when nothing changes.
 */
export function caughtUp(
  record: RotationRecord,
  statuses: ReadonlyMap<string, AgentStatus>,
): RotationRecord | null {
  const { kvno } = record
  if (record.state !== 'done' || kvno === null) return null
  let changed = false
  const targets = record.targets.map((t) => {
    if (t.online || t.applied) return t
    const status = statuses.get(t.server)
    const applied = status?.lastApplied
    const caught =
      (applied !== undefined && sameAccount(applied.account, record.account) && applied.kvno >= kvno) ||
      holdsKvno(status, record)
    if (!caught) return t
    changed = true
    return { ...t, staged: true, applied: true }
  })
  if (!changed) return null
  // The reason named who was left behind: now only those still behind.
  const { reason: _recorded, ...rest } = record
  const reason = describe({ ...rest, targets })
  return reason ? { ...rest, targets, reason } : { ...rest, targets }
}

/** The sites the rotation has not reached: a target offline that has not applied its kvno. */
export function pendingSites(record: Pick<RotationRecord, 'targets'>): string[] {
  return [...new Set(record.targets.filter((t) => !t.online && !t.applied).map((t) => t.site))].sort()
}

export type RotationStep =
  | { kind: 'wait'; until: string }
  | { kind: 'commit' }
  | { kind: 'abort'; reason: string }
  | { kind: 'finish'; reason?: string }

/**
 * What the saga does next in `staging` and `activating` (committing is the saga's own AD write):
 * it waits for every ONLINE target to stage (or apply) or fail, bounded by the deadline, so an
 * offline server or a site that does not answer never holds the others back. Staging commits
 * unless online agents exist and not one of them staged (AD would then hold a key no server has:
 * the rotation aborts instead and AD keeps its password).
 */
export function nextStep(record: RotationRecord, now: Date): RotationStep {
  const online = record.targets.filter((t) => t.online)
  const waiting = online.filter((t) => isAwaited(record, t))
  if (record.state === 'staging') {
    if (waiting.length > 0 && now.getTime() < Date.parse(record.stageUntil))
      return { kind: 'wait', until: record.stageUntil }
    if (online.length > 0 && !online.some((t) => t.staged)) {
      return {
        kind: 'abort',
        reason: `no agent staged kvno ${record.kvno}: ${describe(record) ?? ''}`.trim(),
      }
    }
    return { kind: 'commit' }
  }
  if (record.state === 'activating') {
    const until = record.applyUntil ?? record.updatedAt
    if (waiting.length > 0 && now.getTime() < Date.parse(until)) return { kind: 'wait', until }
    const reason = describe(record)
    return reason ? { kind: 'finish', reason } : { kind: 'finish' }
  }
  return { kind: 'finish' }
}

/** Servers left behind, named: offline (they catch up when they return), failed, not yet applied. */
export function describe(record: RotationRecord): string | undefined {
  const offline = pendingSites(record).map((site) => {
    const servers = record.targets.filter((t) => t.site === site && !t.online && !t.applied)
    return `${site} (${servers.map((t) => t.server).join(', ')})`
  })
  const failed = record.targets
    .filter((t) => t.failure && !t.applied)
    .map((t) => `${t.server} (${t.failure})`)
  const staging = record.state === 'staging'
  const behind = record.targets
    .filter((t) => t.online && !t.failure && !(staging ? t.staged : t.applied))
    .map((t) => t.server)
  const parts = [
    offline.length > 0
      ? `pending sites, offline (they catch up when they return): ${offline.join(', ')}`
      : '',
    failed.length > 0 ? `failed: ${failed.join('; ')}` : '',
    behind.length > 0 ? `${staging ? 'not staged' : 'not applied'} in time: ${behind.join(', ')}` : '',
  ].filter((p) => p !== '')
  return parts.length > 0 ? parts.join('; ').slice(0, 2048) : undefined
}

/** Every target applied the new kvno. */
export const allApplied = (record: Pick<RotationRecord, 'targets'>) => record.targets.every((t) => t.applied)
