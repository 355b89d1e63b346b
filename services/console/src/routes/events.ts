import {
  ErrorCode,
  type EventEnvelope,
  KrbfleetError,
  ServiceName,
  type TopologyDocument,
  TopologyOperation,
} from '@krbfleet/contracts'
import Type, { type TSchema } from 'typebox'
import type { ConsoleApp, RouteContext, RouteModule } from '../context.ts'
import { matchesQuery, parseSince, sitesByName, subjectOf } from '../domain/event-query.ts'

/**
 * The event stream for operators (`krbfleet events`): the stored events, oldest first, filtered by
 * type, site, account or server, from a time (`since`, default one hour ago) or from a stream
 * sequence (`from`: the `next` of the previous answer, which is how `--follow` goes on). Anyone may
 * read it. No event carries a secret (libs/contracts events.ts).
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })
const Name = Type.String({ minLength: 1, maxLength: 253 })
const EventsQuery = obj({
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  site: Type.Optional(Name),
  account: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  server: Type.Optional(Name),
  since: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  from: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
})

/** At most this many stored events are looked at per request (the rest comes with `from: next`). */
const scanPerRequest = 20_000

export const eventRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Stored events, oldest first: by type, site, account, server; since a time or a sequence',
        querystring: EventsQuery,
      },
    },
    async (req) => {
      const log = ctx.events
      if (!log)
        throw new KrbfleetError(ErrorCode.Unavailable, 'the event log is not available on this console')
      const query = req.query
      const subject = subjectOf(query)
      const limit = query.limit ?? 100
      let sites = new Map<string, string>()
      if (query.site) {
        const { topology } = await ctx.call<{ topology: TopologyDocument }>(
          req,
          ServiceName.Topology,
          TopologyOperation.TopologyGet,
          {},
        )
        sites = sitesByName(topology)
      }
      let from = query.from ?? (await log.sequenceAt(parseSince(query.since ?? '1h', new Date())))
      const events: Array<{ seq: number } & EventEnvelope> = []
      for (let scanned = 0; events.length < limit && scanned < scanPerRequest; ) {
        const batch = await log.read({ from, subject, limit: Math.min(500, scanPerRequest - scanned) })
        if (batch.events.length === 0) {
          from = batch.next
          break
        }
        scanned += batch.events.length
        for (const { seq, event } of batch.events) {
          from = seq + 1
          if (!matchesQuery(event, query, sites)) continue
          events.push({ seq, ...event })
          if (events.length >= limit) break
        }
      }
      return { events, next: from }
    },
  )
}
