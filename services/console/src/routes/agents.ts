import { type AgentTokenResult, ServiceName, TopologyOperation as Op } from '@krbfleet/contracts'
import Type, { type TSchema } from 'typebox'
import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'

/**
 * The agents on the web servers. An admin issues a server's one-time enrolment token: the answer
 * is the only place the token ever appears (the topology service keeps its SHA-256; the audit
 * records who issued one for which server, never the token).
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })
const tags = ['agents']

export const agentRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
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
