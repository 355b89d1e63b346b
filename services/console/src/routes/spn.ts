import {
  ServiceName,
  type SpnDesired,
  type SpnDuplicates,
  type SpnListing,
  type SpnPlan,
  type SpnQueryResult,
  type SpnReconcileResult,
  SpnReconcileRequest,
  spnOperations as Op,
} from '@krbfleet/contracts'
import type { FastifyRequest } from 'fastify'
import Type, { type TSchema } from 'typebox'
import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'
import { accountFromPath } from './accounts.ts'

/**
 * Service principal names (setspn -L / -Q / -X and Enable-CsTopology's SPN half): viewers read the
 * plan, an account's SPNs, the holders of an SPN and the duplicates; operators make spn-sync
 * reconcile now. spn-sync does the work; the account goes in the path as `CORP.KERBAUTH`.
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })
const AccountParam = obj({ account: Type.String({ minLength: 1, maxLength: 64 }) })
const tags = ['spn']

export const spnRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  const call = <T>(req: FastifyRequest, op: string, body: unknown) =>
    ctx.call<T>(req, ServiceName.SpnSync, op, body)

  app.get(
    '/spn/plan',
    {
      schema: {
        tags,
        summary: 'The SPN diff of every account (or one): what the next reconcile writes; writes nothing',
        querystring: obj({ account: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }),
      },
    },
    async (req) =>
      await call<SpnPlan>(
        req,
        Op.plan,
        req.query.account ? { account: accountFromPath(req.query.account) } : {},
      ),
  )
  app.get(
    '/spn/accounts/:account',
    {
      schema: {
        tags,
        summary: 'setspn -L: every SPN on the account, marked managed or foreign, and the missing ones',
        params: AccountParam,
      },
    },
    async (req) => await call<SpnListing>(req, Op.list, { account: accountFromPath(req.params.account) }),
  )
  app.get(
    '/spn/accounts/:account/desired',
    {
      schema: { tags, summary: 'The SPNs the enabled topology wants on the account', params: AccountParam },
    },
    async (req) => await call<SpnDesired>(req, Op.desired, { account: accountFromPath(req.params.account) }),
  )
  app.get(
    '/spn/query',
    {
      schema: {
        tags,
        summary: 'setspn -Q: every object holding the SPN (or an alias of it, HOST/x for HTTP/x)',
        querystring: obj({ spn: Type.String({ minLength: 1, maxLength: 512 }) }),
      },
    },
    async (req) => await call<SpnQueryResult>(req, Op.query, { spn: req.query.spn }),
  )
  app.get(
    '/spn/duplicates',
    { schema: { tags, summary: 'setspn -X: SPNs held by more than one object (case-insensitive)' } },
    async (req) => await call<SpnDuplicates>(req, Op.duplicates, {}),
  )
  app.post(
    '/spn/reconcile',
    {
      config: { action: Op.reconcile, role: 'operator' },
      schema: {
        tags,
        summary: 'Reconcile every account (or one) now; with dryRun, answers the plan instead',
        body: Type.Optional(SpnReconcileRequest.schema),
        querystring: obj({ dryRun: Type.Optional(Type.Boolean()) }),
      },
    },
    async (req) => {
      const body = (req.body ?? {}) as { account?: string }
      const account = body.account === undefined ? undefined : accountFromPath(body.account)
      const dryRun = req.query.dryRun === true
      const request = account === undefined ? {} : { account }
      return await ctx.change<SpnReconcileResult | SpnPlan>(
        req,
        { action: Op.reconcile, target: account === undefined ? 'spn:*' : `account:${account}`, dryRun },
        () =>
          dryRun
            ? call<SpnPlan>(req, Op.plan, request)
            : call<SpnReconcileResult>(req, Op.reconcile, request),
      )
    },
  )
}
