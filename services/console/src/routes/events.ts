import { setTimeout as sleep } from 'node:timers/promises'
import {
  ErrorCode,
  type EventEnvelope,
  KrbfleetError,
  ServiceName,
  type TopologyDocument,
  TopologyOperation,
} from '@krbfleet/contracts'
import type { FastifyRequest } from 'fastify'
import Type, { type TSchema } from 'typebox'
import type { ConsoleApp, EventLog, LoggedEvent, RouteContext, RouteModule } from '../context.ts'
import { type EventQuery, matchesQuery, parseSince, sitesByName, subjectOf } from '../domain/event-query.ts'

/**
 * The event stream for operators (`krbfleet events`): the stored events, oldest first, filtered by
 * type, site, account or server, from a time (`since`, default one hour ago) or from a stream
 * sequence (`from`: the `next` of the previous answer, which is how `--follow` goes on); and the
 * same, live, as server-sent events for the dashboard (`/events/stream`: polled from the log, so
 * the console needs no consumer; a reconnect resumes after the Last-Event-ID). Anyone may read it. No event carries a secret (libs/contracts events.ts).
 */

const obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false })
const Name = Type.String({ minLength: 1, maxLength: 253 })
const Filters = {
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  site: Type.Optional(Name),
  account: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  server: Type.Optional(Name),
  since: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  from: Type.Optional(Type.Integer({ minimum: 1 })),
}
const EventsQuery = obj({ ...Filters, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) })
/** The stream's `since` defaults to now: only what happens from the moment it opens (plus `from`). */
const StreamQuery = obj(Filters)
const tags = ['events']

/** At most this many stored events are looked at per request (the rest comes with `from: next`). */
const scanPerRequest = 20_000

export const eventRoutes: RouteModule = async (app: ConsoleApp, ctx: RouteContext) => {
  const logOf = (): EventLog => {
    if (!ctx.events)
      throw new KrbfleetError(ErrorCode.Unavailable, 'the event log is not available on this console')
    return ctx.events
  }
  /** The site of every server and pool, read from the topology only when the query names a site. */
  const sitesFor = async (req: FastifyRequest, query: EventQuery) => {
    if (!query.site) return new Map<string, string>()
    const { topology } = await ctx.call<{ topology: TopologyDocument }>(
      req,
      ServiceName.Topology,
      TopologyOperation.TopologyGet,
      {},
    )
    return sitesByName(topology)
  }

  app.get(
    '/events',
    {
      schema: {
        tags,
        summary: 'Stored events, oldest first: by type, site, account, server; since a time or a sequence',
        querystring: EventsQuery,
      },
    },
    async (req) => {
      const log = logOf()
      const query = req.query
      const sites = await sitesFor(req, query)
      const subject = subjectOf(query)
      const from = query.from ?? (await log.sequenceAt(parseSince(query.since ?? '1h', new Date()), subject))
      const { events, next } = await scan(log, from, subject, query.limit ?? 100, (event) =>
        matchesQuery(event, query, sites),
      )
      return { events: events.map(({ seq, event }) => ({ seq, ...event })), next }
    },
  )

  const open = new Set<() => void>()
  app.addHook('preClose', async () => {
    for (const end of open) end()
  })
  app.get(
    '/events/stream',
    {
      schema: {
        tags,
        summary:
          'The events as server-sent events (text/event-stream), live: the same filters; resumes after Last-Event-ID',
        querystring: StreamQuery,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) }),
      },
    },
    async (req, reply) => {
      const log = logOf()
      const query = req.query
      const sites = await sitesFor(req, query)
      const resumeAfter = req.headers['last-event-id']
      const subject = subjectOf(query)
      let from =
        resumeAfter !== undefined
          ? Number(resumeAfter) + 1
          : (query.from ?? (await log.sequenceAt(parseSince(query.since ?? '0s', new Date()), subject)))
      const accept = (event: EventEnvelope) => matchesQuery(event, query, sites)

      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      })
      let ended = false
      const end = () => {
        ended = true
        res.end()
      }
      open.add(end)
      req.raw.on('close', () => {
        ended = true
        open.delete(end)
      })
      // `retry` tells the browser how soon to reconnect; a comment line keeps proxies from closing an idle stream.
      res.write(`retry: ${streamPollMs * 4}\n: next ${from}\n\n`)
      let idle = 0
      while (!ended) {
        try {
          const batch = await scan(log, from, subject, 500, accept)
          from = batch.next
          for (const { seq, event } of batch.events) res.write(serverSentEvent(seq, event))
          idle = batch.events.length > 0 ? 0 : idle + streamPollMs
        } catch (error) {
          req.log.warn({ err: error }, 'event stream: reading the event log failed; trying again')
        }
        if (idle >= keepAliveMs) {
          res.write(': keep-alive\n\n')
          idle = 0
        }
        await sleep(streamPollMs)
      }
      open.delete(end)
    },
  )
}

/** How often a stream looks for new events, and how long it stays silent before a keep-alive. */
const streamPollMs = 500
const keepAliveMs = 15_000

/** One event as a server-sent event: its sequence as id (a reconnect resumes after it), its name as event. */
export function serverSentEvent(seq: number, event: EventEnvelope): string {
  const name = event.type.split('.').at(-2) ?? 'event'
  return `id: ${seq}\nevent: ${name}\ndata: ${JSON.stringify({ seq, ...event })}\n\n`
}

/**
 * The events on `subject` from sequence `from` that `accept` takes, at most `limit`, looking at
 * no more than scanPerRequest stored events; `next` is where to go on.
 */
async function scan(
  log: EventLog,
  from: number,
  subject: string,
  limit: number,
  accept: (event: EventEnvelope) => boolean,
): Promise<{ events: LoggedEvent[]; next: number }> {
  const events: LoggedEvent[] = []
  for (let scanned = 0; events.length < limit && scanned < scanPerRequest; ) {
    const batch = await log.read({ from, subject, limit: Math.min(500, scanPerRequest - scanned) })
    if (batch.events.length === 0) return { events, next: batch.next }
    scanned += batch.events.length
    for (const logged of batch.events) {
      from = logged.seq + 1
      if (!accept(logged.event)) continue
      events.push(logged)
      if (events.length >= limit) break
    }
  }
  return { events, next: from }
}
