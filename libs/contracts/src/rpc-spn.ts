import Type, { type Static } from 'typebox'
import { codec } from './validation.ts'

/**
 * Request/reply vocabulary of the spn-sync service (service name `spn-sync`): the setspn verbs
 * (-L list, -Q query, -X duplicates), the plan of the next reconcile, and what the enabled topology
 * wants on an account (the account service's `test account` asks for it).
 */

export const spnOperations = {
  plan: 'spn.plan',
  list: 'spn.list',
  query: 'spn.query',
  duplicates: 'spn.duplicates',
  desired: 'spn.desired',
  reconcile: 'spn.reconcile',
} as const
export type SpnOperation = (typeof spnOperations)[keyof typeof spnOperations]

/** `DOMAIN\NAME` as typed by the operator; the service parses it with parseAccountName. */
const AccountId = Type.String({ minLength: 1, maxLength: 64 })
const SpnText = Type.String({ minLength: 1, maxLength: 512 })
const obj = <P extends Record<string, import('typebox').TSchema>>(p: P) =>
  Type.Object(p, { additionalProperties: false })

export const SpnPlanRequest = codec(obj({ account: Type.Optional(AccountId) }), 'spn.plan request')
export type SpnPlanRequest = Static<typeof SpnPlanRequest.schema>

export const SpnListRequest = codec(obj({ account: AccountId }), 'spn.list request')
export type SpnListRequest = Static<typeof SpnListRequest.schema>

export const SpnQueryRequest = codec(obj({ spn: SpnText }), 'spn.query request')
export type SpnQueryRequest = Static<typeof SpnQueryRequest.schema>

export const SpnDuplicatesRequest = codec(obj({}), 'spn.duplicates request')
export type SpnDuplicatesRequest = Static<typeof SpnDuplicatesRequest.schema>

export const SpnDesiredRequest = codec(obj({ account: AccountId }), 'spn.desired request')
export type SpnDesiredRequest = Static<typeof SpnDesiredRequest.schema>

export const SpnReconcileRequest = codec(obj({ account: Type.Optional(AccountId) }), 'spn.reconcile request')
export type SpnReconcileRequest = Static<typeof SpnReconcileRequest.schema>

/** An object holding an SPN, as setspn -Q prints it. */
export const SpnHolder = obj({
  dn: Type.String(),
  samAccountName: Type.Union([Type.String(), Type.Null()]),
  /** The SPN as the holder stores it (its letter case may differ from the query). */
  spn: Type.String(),
})
export type SpnHolder = Static<typeof SpnHolder>

export const SpnConflict = obj({
  spn: Type.String(),
  /** DN of the object that holds the SPN (or the HOST SPN it is an alias of). */
  holder: Type.String(),
})
export type SpnConflict = Static<typeof SpnConflict>

/** The diff of one account: what the next reconcile writes (or, after spn.reconcile, wrote). */
export const AccountSpnPlan = obj({
  account: Type.String(),
  /** DN of the account in AD, null when it does not exist (nothing can be written then). */
  dn: Type.Union([Type.String(), Type.Null()]),
  desired: Type.Array(Type.String()),
  add: Type.Array(Type.String()),
  remove: Type.Array(Type.String()),
  /** SPNs on the account that krbfleet does not manage: left alone. */
  keepForeign: Type.Array(Type.String()),
  /** Desired SPNs held by another object: not written, reported as SpnConflictDetected. */
  conflicts: Type.Array(SpnConflict),
})
export type AccountSpnPlan = Static<typeof AccountSpnPlan>

export const SpnPlan = obj({
  /** The enabled topology revision the plan is computed from (0: none enabled yet). */
  revision: Type.Integer({ minimum: 0 }),
  accounts: Type.Array(AccountSpnPlan),
})
export type SpnPlan = Static<typeof SpnPlan>

/** setspn -L: every SPN on the account, marked managed (krbfleet wrote it) or foreign. */
export const SpnListing = obj({
  account: Type.String(),
  dn: Type.String(),
  revision: Type.Integer({ minimum: 0 }),
  spns: Type.Array(
    obj({
      spn: Type.String(),
      managed: Type.Boolean(),
      /** Wanted by the enabled revision. */
      desired: Type.Boolean(),
    }),
  ),
  /** Desired SPNs that are missing from the account. */
  missing: Type.Array(Type.String()),
})
export type SpnListing = Static<typeof SpnListing>

/** setspn -Q */
export const SpnQueryResult = obj({ spn: Type.String(), holders: Type.Array(SpnHolder) })
export type SpnQueryResult = Static<typeof SpnQueryResult>

/** setspn -X: SPNs held by more than one object, compared case-insensitively as AD compares. */
export const SpnDuplicates = obj({
  duplicates: Type.Array(obj({ spn: Type.String(), holders: Type.Array(SpnHolder) })),
})
export type SpnDuplicates = Static<typeof SpnDuplicates>

export const SpnDesired = obj({
  account: Type.String(),
  revision: Type.Integer({ minimum: 0 }),
  /** Sites of the revision assigned to the account. */
  sites: Type.Array(Type.String()),
  spns: Type.Array(Type.String()),
})
export type SpnDesired = Static<typeof SpnDesired>

/** What a reconcile run did, per account. */
export const SpnReconcileResult = obj({
  revision: Type.Integer({ minimum: 0 }),
  accounts: Type.Array(
    obj({
      account: Type.String(),
      outcome: Type.Union([
        Type.Literal('changed'),
        Type.Literal('unchanged'),
        Type.Literal('missing-account'),
        Type.Literal('failed'),
      ]),
      added: Type.Array(Type.String()),
      removed: Type.Array(Type.String()),
      conflicts: Type.Array(SpnConflict),
      error: Type.Optional(Type.String()),
    }),
  ),
})
export type SpnReconcileResult = Static<typeof SpnReconcileResult>
