import {
  type AccountChange,
  AccountCreateRequest,
  type AccountTestReport,
  type AccountView,
  accountOperations as Op,
  ServiceName,
} from '@krbfleet/contracts'
import type { FastifyRequest } from 'fastify'
import Type, { type TSchema } from 'typebox'
import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'

/**
 * Kerberos accounts (New-CsKerberosAccount and the AD half of Set-CsKerberosAccountPassword):
 * admins create and remove accounts, operators reset passwords and run tests, viewers list and
 * show. The account service does the work; no answer carries a password.
 *
 * The account goes in the path as `CORP.KERBAUTH` (a NetBIOS domain has no dot) or URL-encoded
 * `CORP%5CKERBAUTH`; the service parses and validates it.
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })
const AccountParam = obj({ account: Type.String({ minLength: 1, maxLength: 64 }) })
const DryRunQuery = obj({ dryRun: Type.Optional(Type.Boolean()) })
/** `force`: remove even while the enabled topology still assigns the account to sites. */
const RemoveQuery = obj({ dryRun: Type.Optional(Type.Boolean()), force: Type.Optional(Type.Boolean()) })
const tags = ['accounts']

/** `CORP.KERBAUTH` -> `CORP\KERBAUTH`; a value with a backslash is passed on as it is. */
export function accountFromPath(value: string): string {
  if (value.includes('\\')) return value
  const dot = value.indexOf('.')
  return dot < 0 ? value : `${value.slice(0, dot)}\\${value.slice(dot + 1)}`
}

function dryRunOf(req: FastifyRequest): boolean {
  const query = req.query as { dryRun?: boolean } | undefined
  const body = req.body as { dryRun?: boolean } | undefined
  return query?.dryRun === true || body?.dryRun === true
}

export const accountRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  const call = <T>(req: FastifyRequest, op: string, body: unknown) =>
    ctx.call<T>(req, ServiceName.Account, op, body)

  app.get(
    '/accounts',
    { schema: { tags, summary: 'List the Kerberos accounts krbfleet manages' } },
    async (req) => await call<{ accounts: AccountView[] }>(req, Op.list, {}),
  )
  app.get(
    '/accounts/:account',
    {
      schema: {
        tags,
        summary: 'Show one account (AD attributes, kvno, managed state)',
        params: AccountParam,
      },
    },
    async (req) => await call<AccountView>(req, Op.show, { account: accountFromPath(req.params.account) }),
  )
  app.post(
    '/accounts',
    {
      config: { action: Op.create, role: 'admin' },
      schema: {
        tags,
        summary: 'Create a computer account in AD (or adopt an existing one)',
        body: AccountCreateRequest.schema,
        querystring: DryRunQuery,
      },
    },
    async (req, reply) => {
      const dryRun = dryRunOf(req)
      const result = await ctx.change(
        req,
        { action: Op.create, target: `account:${req.body.account}`, dryRun },
        () => call<AccountChange>(req, Op.create, { ...req.body, dryRun }),
      )
      if (!result.dryRun) reply.status(201)
      return result
    },
  )
  app.delete(
    '/accounts/:account',
    {
      config: { action: Op.remove, role: 'admin' },
      schema: {
        tags,
        summary: 'Delete the account from AD and forget its secret',
        params: AccountParam,
        querystring: RemoveQuery,
      },
    },
    async (req) => {
      const account = accountFromPath(req.params.account)
      const dryRun = dryRunOf(req)
      const force = (req.query as { force?: boolean } | undefined)?.force === true
      return await ctx.change(req, { action: Op.remove, target: `account:${account}`, dryRun }, () =>
        call<AccountChange>(req, Op.remove, { account, dryRun, ...(force ? { force } : {}) }),
      )
    },
  )
  app.post(
    '/accounts/:account/password-reset',
    {
      config: { action: Op.passwordReset, role: 'operator' },
      schema: {
        tags,
        summary: 'Reset the password in AD (unicodePwd over LDAPS/StartTLS) and keep it sealed at rest',
        params: AccountParam,
        querystring: DryRunQuery,
      },
    },
    async (req) => {
      const account = accountFromPath(req.params.account)
      const dryRun = dryRunOf(req)
      return await ctx.change(req, { action: Op.passwordReset, target: `account:${account}`, dryRun }, () =>
        call<AccountChange>(req, Op.passwordReset, { account, dryRun }),
      )
    },
  )
  app.post(
    '/accounts/:account/test',
    {
      // Reads only, but it queries AD and spn-sync on demand: operators run tests (ARCHITECTURE roles).
      config: { role: 'operator' },
      schema: {
        tags,
        summary: 'Test the account: exists, UAC, encryption types, password age, secret kvno, SPNs',
        params: AccountParam,
      },
    },
    async (req) =>
      await call<AccountTestReport>(req, Op.test, { account: accountFromPath(req.params.account) }),
  )
}
