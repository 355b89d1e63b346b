import {
  type AccountView,
  type AgentRow,
  type AgentTokenResult,
  accountOperations,
  ServiceName,
  TopologyOperation as Op,
} from '@krbfleet/contracts'
import Type, { type TSchema } from 'typebox'
import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'

/**
 * The agents on the web servers. Anyone may list them: server, site, backend, enrolment, last
 * heartbeat, kvnos held, health, the last credential applied or failed (the topology service's
 * half) and AD's current kvno of the site's account (the account service's), so that a server
 * behind on its key shows at once (`current: false`). An admin issues a server's one-time enrolment token: the answer
 * is the only place the token ever appears (the topology service keeps its SHA-256; the audit
 * records who issued one for which server, never the token).
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })
const tags = ['agents']

export const agentRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  app.get(
    '/agents',
    {
      schema: {
        tags,
        summary: 'The agents: enrolment, last heartbeat, kvnos held vs AD, backend health',
        querystring: obj({
          site: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          pool: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
        }),
      },
    },
    async (req) => {
      const [{ agents }, { accounts }] = await Promise.all([
        ctx.call<{ agents: AgentRow[] }>(req, ServiceName.Topology, Op.AgentList, req.query),
        ctx.call<{ accounts: AccountView[] }>(req, ServiceName.Account, accountOperations.list, {}),
      ])
      const kvnoOf = new Map(accounts.map((a) => [a.account.toUpperCase(), a.kvno]))
      return {
        agents: agents.map((row) => {
          const adKvno = row.account === null ? null : (kvnoOf.get(row.account.toUpperCase()) ?? null)
          const current =
            adKvno !== null && row.kvnos.some((k) => k.account === row.account && k.kvno === adKvno)
          return { ...row, adKvno, current }
        }),
      }
    },
  )
  app.post(
    '/agents/:server/token',
    {
      config: { action: Op.AgentToken },
      schema: {
        tags,
        summary: "Issue a server's one-time enrolment token (shown once, stored hashed, expiring)",
        params: obj({ server: Type.String({ minLength: 1, maxLength: 253 }) }),
        body: Type.Optional(
          obj({ ttlMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 43_200 })) }),
        ),
      },
    },
    async (req) => {
      const { server } = req.params as { server: string }
      const ttl = (req.body as { ttlMinutes?: number } | undefined)?.ttlMinutes
      return await ctx.change(req, { action: Op.AgentToken, target: `server:${server}`, dryRun: false }, () =>
        ctx.call<AgentTokenResult>(req, ServiceName.Topology, Op.AgentToken, {
          server,
          ...(ttl === undefined ? {} : { ttlMinutes: ttl }),
        }),
      )
    },
  )
}
