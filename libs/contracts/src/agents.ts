import Type, { type Static } from 'typebox'
import { BackendHealthReport as Health, HeldKvnos as Held } from './events.ts'
import { AgentBackend } from './topology.ts'
import { codec } from './validation.ts'

/**
 * What the agents report, as the topology service keeps it (the agents bucket, one key per server,
 * `agentToken(server)`): the last heartbeat (kvnos held, backend health) and the last credential
 * applied, failed or removed. Built from the agents' events only; no secret in it.
 */

const Name = Type.String({ minLength: 1, maxLength: 253 })
const Account = Type.String({ minLength: 3, maxLength: 32 })
const Kvno = Type.Integer({ minimum: 0 })
const At = Type.String({ format: 'date-time' })
const obj = <P extends Record<string, import('typebox').TSchema>>(p: P) =>
  Type.Object(p, { additionalProperties: false })
const Backend = Type.Union([Type.Literal(AgentBackend.Iis), Type.Literal(AgentBackend.Keytab)])
const Applied = obj({ at: At, account: Account, kvno: Kvno })
const Failure = obj({
  at: At,
  account: Type.Optional(Account),
  kvno: Type.Optional(Kvno),
  reason: Type.String({ maxLength: 1024 }),
})

export const AgentStatus = codec(
  obj({
    server: Name,
    lastHeartbeat: Type.Optional(
      obj({ at: At, backend: Backend, kvnos: Held, health: Type.Optional(Health) }),
    ),
    /**
     * What the server said it holds last: its latest heartbeat, or a later install report
     * (CredentialStaged or CredentialApplied carrying `held`).
     */
    held: Type.Optional(obj({ at: At, kvnos: Held })),
    lastApplied: Type.Optional(Applied),
    lastFailure: Type.Optional(Failure),
    lastRemoved: Type.Optional(obj({ at: At, account: Account })),
  }),
  'agent status',
)
export type AgentStatus = Static<typeof AgentStatus.schema>

/** The kvnos a status says its server holds (its latest heartbeat or install report). */
export function heldKvnos(status: AgentStatus | null | undefined): Static<typeof Held> {
  return status?.held?.kvnos ?? status?.lastHeartbeat?.kvnos ?? []
}

/** One row of `agent list` (the topology's half; the console adds AD's kvno of the account). */
export const AgentRow = obj({
  server: Name,
  pool: Name,
  site: Type.String(),
  backend: Backend,
  enrolled: Type.Boolean(),
  enrolledAt: Type.Union([At, Type.Null()]),
  /** The Kerberos account assigned to the server's site in the draft; null when none. */
  account: Type.Union([Account, Type.Null()]),
  lastHeartbeat: Type.Union([At, Type.Null()]),
  kvnos: Held,
  health: Type.Union([Health, Type.Null()]),
  lastApplied: Type.Union([Applied, Type.Null()]),
  lastFailure: Type.Union([Failure, Type.Null()]),
  /** Set by the console: AD's current kvno of `account` (msDS-KeyVersionNumber); null when unknown. */
  adKvno: Type.Optional(Type.Union([Kvno, Type.Null()])),
  /** Set by the console: the server holds AD's current kvno of its account. */
  current: Type.Optional(Type.Boolean()),
})
export type AgentRow = Static<typeof AgentRow>
