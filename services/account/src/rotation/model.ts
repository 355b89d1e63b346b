import {
  accountKey,
  codec,
  countTargets,
  type RotationTarget,
  RotationView,
  rotationViewTargetsListed,
} from '@krbfleet/contracts'
import Type, { type Static } from 'typebox'
import { pendingSites } from './decide.ts'

/**
 * A rotation as the saga keeps it (the rotations bucket, `rotation.<id>`): what `rotation.show`
 * answers, plus the saga's deadlines. One more key per account, `running.<CORP.KERBAUTH>`, names the
 * rotation in progress: created with compare-and-set, so two rotations of one account never run at
 * once, and deleted when the rotation ends. No secret in either: the new password is in the
 * account record, sealed at rest (a pending `rotate` secret).
 */
const { counts: _counts, ...viewProperties } = RotationView.properties

export const RotationRecord = codec(
  Type.Object(
    {
      ...viewProperties,
      /** Until when the saga waits for the online agents to stage (then it commits anyway). */
      stageUntil: Type.String(),
      /** Until when it waits for them to apply, once AD has the password. */
      applyUntil: Type.Union([Type.String(), Type.Null()]),
    },
    { additionalProperties: false },
  ),
  'rotation record',
)
export type RotationRecord = Static<typeof RotationRecord.schema>

export const rotationKey = (rotationId: string) => `rotation.${rotationId}`
export const runningKey = (account: string) => `running.${accountKey(account)}`

/**
 * The record as `rotation.show` answers it: the saga's deadlines are its own; the targets counted,
 * and listed up to `rotationViewTargetsListed` (those still awaited, failed or offline first).
 */
export function viewOf(record: RotationRecord): RotationView {
  const { stageUntil: _s, applyUntil: _a, targets, ...rest } = record
  const pending = pendingSites(record)
  const view: RotationView = { ...rest, targets: listed(targets), counts: countTargets(targets) }
  return pending.length > 0 ? { ...view, pendingSites: pending } : view
}

function listed(targets: RotationTarget[]): RotationTarget[] {
  if (targets.length <= rotationViewTargetsListed) return targets
  const done = (t: RotationTarget) => t.applied
  return [...targets.filter((t) => !done(t)), ...targets.filter(done)].slice(0, rotationViewTargetsListed)
}

export const isFinished = (record: Pick<RotationRecord, 'state'>) =>
  record.state === 'done' || record.state === 'aborted'

/** Saga timing; every value in ms. */
export interface RotationSettings {
  /** How long the commit waits for the online agents to stage (default 30 s). */
  stageTimeoutMs: number
  /** How long the rotation waits for them to apply after AD took the password (default 60 s). */
  applyTimeoutMs: number
  /** An agent whose last heartbeat is older than this is offline (default 90 s: three missed beats). */
  onlineWithinMs: number
  /** A running rotation not updated for this long lost its driver (a crash): another run takes it over. */
  staleAfterMs: number
}

export const defaultRotationSettings: RotationSettings = {
  stageTimeoutMs: 30_000,
  applyTimeoutMs: 60_000,
  onlineWithinMs: 90_000,
  staleAfterMs: 10_000,
}

/** Where the saga can be stopped dead by a crash test (test/ crashing main, never a setting). */
export type RotationFailpoint =
  | 'rotation-started'
  | 'rotation-staged'
  | 'rotation-committing'
  | 'rotation-written'
  | 'rotation-committed'

export const rotationFailpoints: readonly RotationFailpoint[] = [
  'rotation-started',
  'rotation-staged',
  'rotation-committing',
  'rotation-written',
  'rotation-committed',
]
