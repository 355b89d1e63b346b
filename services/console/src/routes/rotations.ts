import {
  accountOperations as Op,
  PasswordCopyRequest,
  type PasswordCopyResult,
  type RotationView,
  ServiceName,
} from '@krbfleet/contracts'
import Type, { type TSchema } from 'typebox'
import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'
import type { Role } from '../domain/auth.ts'
import { accountFromPath } from './accounts.ts'

/**
 * Set-CsKerberosAccountPassword: operators start a rotation of an account (the two-phase saga of
 * the account service; the answer comes at once, with the rotation id and its targets) and copy a
 * server's credential to another server of the same account (-FromComputer / -ToComputer);
 * everyone may follow a rotation's progress (staged / applied per server). No answer carries a
 * password.
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })
const AccountParam = obj({ account: Type.String({ minLength: 1, maxLength: 64 }) })
const DryRunQuery = obj({ dryRun: Type.Optional(Type.Boolean()) })
const tags = ['rotations']

/** The least role that starts a rotation (the dashboard offers the button to it only). */
export const rotationRole: Role = 'operator'

export const rotationRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  const call = <T>(req: Parameters<RouteContext['call']>[0], op: string, body: unknown) =>
    ctx.call<T>(req, ServiceName.Account, op, body)

  app.post(
    '/accounts/:account/password',
    {
      config: { action: Op.passwordSet, role: rotationRole },
      schema: {
        tags,
        summary: 'Rotate the password: stage to every agent, reset AD, activate, retire the old key',
        params: AccountParam,
        querystring: DryRunQuery,
      },
    },
    async (req, reply) => {
      const account = accountFromPath(req.params.account)
      const dryRun = req.query.dryRun === true
      const view = await ctx.change(
        req,
        { action: Op.passwordSet, target: `account:${account}`, dryRun },
        () => call<RotationView>(req, Op.passwordSet, { account, dryRun }),
      )
      if (!view.dryRun) reply.status(202)
      return view
    },
  )
  app.get(
    '/accounts/:account/rotation',
    {
      schema: {
        tags,
        summary: "The account's running rotation, else its latest",
        params: AccountParam,
      },
    },
    async (req) =>
      await call<RotationView>(req, Op.rotationShow, { account: accountFromPath(req.params.account) }),
  )
  app.get(
    '/rotations/:rotationId',
    {
      schema: {
        tags,
        summary: "One rotation's progress: state, kvno, and per server online / staged / applied",
        params: obj({ rotationId: Type.String({ minLength: 1, maxLength: 64 }) }),
      },
    },
    async (req) => await call<RotationView>(req, Op.rotationShow, { rotationId: req.params.rotationId }),
  )
  app.post(
    '/password-copy',
    {
      config: { action: Op.passwordCopy, role: 'operator' },
      schema: {
        tags,
        summary: 'Give a server the credential another server of the same account holds (AD untouched)',
        body: PasswordCopyRequest.schema,
        querystring: DryRunQuery,
      },
    },
    async (req) => {
      const dryRun = req.query.dryRun === true || req.body.dryRun === true
      return await ctx.change(req, { action: Op.passwordCopy, target: `server:${req.body.to}`, dryRun }, () =>
        call<PasswordCopyResult>(req, Op.passwordCopy, { ...req.body, dryRun }),
      )
    },
  )
}
