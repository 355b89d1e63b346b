import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  AgentHeartbeat,
  agentToken,
  type BusHealth,
  CredentialApplied,
  type EventEnvelope,
  PasswordRotated,
  SiteAdded,
  streams,
} from '@krbfleet/contracts'
import { SseParser } from '../dashboard/sse.ts'
import { auth, type ConsoleWorld, startConsoleWorld } from './helpers.ts'

type Page = { events: Array<{ seq: number } & EventEnvelope>; next: number }

/**
 * GET /v1/events (`krbfleet events`) against a real nats-server: stored events read one by one with
 * the stream's message get (no consumer), filtered by type, site, account and server, from a time
 * or a sequence; heartbeats only when asked for; a report on another server's subject (a forgery)
 * never shown; bad filters refused naming the field.
 */
describe('the event log: GET /v1/events', () => {
  let world: ConsoleWorld
  const get = async (query: string) => {
    const r = await world.app.inject({ method: 'GET', url: `/v1/events${query}`, headers: auth('viewer') })
    return { status: r.statusCode, body: r.json() as Page & { error?: { field: string; message: string } } }
  }
  const applied = (server: string, account: string, kvno: number) =>
    CredentialApplied.create({ server, account, kvno }, { actor: `agent:${server}` })

  before(async () => {
    world = await startConsoleWorld()
    const admin = auth('admin')
    for (const [url, payload] of [
      ['/v1/sites', { name: 'paris' }],
      ['/v1/sites', { name: 'oslo' }],
      ['/v1/pools', { fqdn: 'web.paris.corp.example.com', site: 'paris' }],
      ['/v1/pools', { fqdn: 'web.oslo.corp.example.com', site: 'oslo' }],
      ['/v1/servers', { fqdn: 'fe01.paris.corp.example.com', pool: 'web.paris.corp.example.com' }],
      ['/v1/servers', { fqdn: 'fe01.oslo.corp.example.com', pool: 'web.oslo.corp.example.com' }],
    ] as const) {
      const r = await world.app.inject({ method: 'POST', url, headers: admin, payload })
      assert.equal(r.statusCode, 201, r.body)
    }
    const { bus } = world
    await bus.publish(applied('fe01.paris.corp.example.com', 'CORP\\PARIS', 3))
    await bus.publish(applied('fe01.oslo.corp.example.com', 'CORP\\OSLO', 7))
    await bus.publish(
      AgentHeartbeat.create(
        { server: 'fe01.paris.corp.example.com', backend: 'keytab', kvnos: [] },
        { actor: 'agent:fe01.paris.corp.example.com' },
      ),
    )
    await bus.publish(
      PasswordRotated.create(
        { rotationId: 'rot-1', account: 'CORP\\PARIS', kvno: 4 },
        { actor: 'service:account', correlationId: 'rot-1' },
      ),
    )
    // A report naming paris's server on oslo's subject: what a compromised agent could store.
    const forged = applied('fe01.paris.corp.example.com', 'CORP\\PARIS', 99)
    await bus.js.publish(
      `${CredentialApplied.subject}.${agentToken('fe01.oslo.corp.example.com')}`,
      JSON.stringify(forged),
    )
  })
  after(async () => {
    await world?.stop()
  })

  test('the last hour by default, oldest first, without heartbeats or forged reports', async () => {
    const { status, body } = await get('')
    assert.equal(status, 200)
    const shown = body.events.map((e) => [e.type, (e.data as { kvno?: number }).kvno])
    assert.ok(shown.length >= 9, JSON.stringify(shown))
    assert.deepEqual(
      shown.filter(([type]) => /^krbfleet\.(agent|account)\./.test(String(type))),
      [
        [CredentialApplied.type, 3],
        [CredentialApplied.type, 7],
        [PasswordRotated.type, 4],
      ],
      'no heartbeat, no kvno 99',
    )
    const seqs = body.events.map((e) => e.seq)
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    )
    assert.equal(body.next, seqs.at(-1)! + 2, 'next is past the forged report too')
  })

  test('by type (name or full type), account, server and site', async () => {
    const byName = await get('?type=CredentialApplied')
    assert.deepEqual(
      byName.body.events.map((e) => e.data),
      [
        { server: 'fe01.paris.corp.example.com', account: 'CORP\\PARIS', kvno: 3 },
        { server: 'fe01.oslo.corp.example.com', account: 'CORP\\OSLO', kvno: 7 },
      ],
    )
    const byType = await get(`?type=${encodeURIComponent(CredentialApplied.type)}`)
    assert.deepEqual(byType.body.events, byName.body.events)
    const heartbeats = await get('?type=AgentHeartbeat')
    assert.deepEqual(
      heartbeats.body.events.map((e) => e.type),
      [AgentHeartbeat.type],
    )
    const paris = await get(`?account=${encodeURIComponent('corp\\paris')}`)
    assert.deepEqual(
      paris.body.events.map((e) => [e.type, (e.data as { kvno: number }).kvno]),
      [
        [CredentialApplied.type, 3],
        [PasswordRotated.type, 4],
      ],
    )
    const server = await get('?server=FE01.OSLO.corp.example.com')
    assert.deepEqual(
      server.body.events.map((e) => [e.type, (e.data as { kvno?: number }).kvno ?? null]),
      [
        ['krbfleet.topology.ServerAddedToSite.v1', null],
        [CredentialApplied.type, 7],
      ],
    )
    // The site of a server comes from the topology; a site's own events name it.
    const site = await get('?site=oslo')
    assert.deepEqual(
      site.body.events.map((e) => [e.type, (e.data as { site?: string; kvno?: number }).kvno ?? null]),
      [
        [SiteAdded.type, null],
        ['krbfleet.topology.PoolAdded.v1', null],
        ['krbfleet.topology.ServerAddedToSite.v1', null],
        [CredentialApplied.type, 7],
      ],
    )
  })

  test('from a sequence (how --follow goes on), since a time, and a limit', async () => {
    const all = (await get('?type=CredentialApplied')).body
    const later = await get(`?type=CredentialApplied&from=${all.events[0]!.seq + 1}`)
    assert.deepEqual(
      later.body.events.map((e) => (e.data as { kvno: number }).kvno),
      [7],
    )
    const none = await get(`?from=${all.next + 1000}`)
    assert.deepEqual(none.body.events, [])
    const future = await get(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)
    assert.deepEqual(future.body.events, [], 'nothing stored after a minute from now')
    const recent = await get('?since=10m&type=PasswordRotated')
    assert.equal(recent.body.events.length, 1)
    const one = await get('?limit=1&type=CredentialApplied')
    assert.equal(one.body.events.length, 1)
    assert.equal(one.body.next, one.body.events[0]!.seq + 1)
  })

  test('bad filters: 400 naming the field and the rule', async () => {
    const since = await get('?since=10x')
    assert.equal(since.status, 400)
    assert.equal(since.body.error?.field, 'since')
    assert.match(since.body.error?.message ?? '', /duration \(30s, 15m, 2h, 7d\) or an ISO 8601 time/)
    const type = await get('?type=Nope')
    assert.equal(type.status, 400)
    assert.equal(type.body.error?.field, 'type')
    assert.match(type.body.error?.message ?? '', /must be one of .*PasswordRotated/)
    const limit = await get('?limit=5000')
    assert.equal(limit.status, 400)
    const unknown = await get('?bogus=1')
    assert.equal(unknown.status, 400)
  })

  test('GET /v1/bus: the events stream and every durable consumer with its lag, for a viewer', async () => {
    const r = await world.app.inject({ method: 'GET', url: '/v1/bus', headers: auth('viewer') })
    assert.equal(r.statusCode, 200, r.body)
    const health = r.json() as BusHealth
    const info = await world.bus.jsm.streams.info(streams.events.name)
    assert.deepEqual(
      health.streams.map((s) => [s.name, s.lastSeq, s.messages, s.maxBytes]),
      [[streams.events.name, info.state.last_seq, info.state.messages, info.config.max_bytes]],
    )
    const status = health.consumers.find((c) => c.durable === 'topology-agent-status')
    assert.ok(status, JSON.stringify(health.consumers))
    assert.equal(typeof status.pending, 'number')
    assert.equal(status.maxAckPending > 0, true)
    assert.equal((await world.app.inject({ method: 'GET', url: '/v1/bus' })).statusCode, 401)
  })

  describe('GET /v1/events/stream: server-sent events', () => {
    let url: string
    before(async () => {
      url = await world.app.listen({ host: '127.0.0.1', port: 0 })
    })

    /** Reads the stream until `count` events came (or `ms` passed); then closes it. */
    const read = async (query: string, count: number, headers: Record<string, string> = {}, ms = 10_000) => {
      const controller = new AbortController()
      const response = await fetch(`${url}/v1/events/stream${query}`, {
        headers: { ...auth('viewer'), ...headers },
        signal: controller.signal,
      })
      const frames: Array<{ id: string; event: string; data: { seq: number } & EventEnvelope }> = []
      const parser = new SseParser()
      const timer = setTimeout(() => controller.abort(), ms)
      try {
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
        while (frames.length < count) {
          const { value, done } = await reader.read()
          if (done) break
          for (const { id, event, data } of parser.push(value))
            frames.push({ id, event, data: JSON.parse(data) })
        }
      } catch (error) {
        if (!controller.signal.aborted) throw error
      } finally {
        clearTimeout(timer)
        controller.abort()
      }
      return { status: response.status, type: response.headers.get('content-type'), frames }
    }

    test('stored events from a sequence, then live ones as they are published; id = sequence, event = name', async () => {
      const first = (await get('?type=CredentialApplied')).body.events[0]!.seq
      const live = read(`?type=CredentialApplied&from=${first}`, 3)
      await new Promise((r) => setTimeout(r, 700))
      await world.bus.publish(applied('fe01.paris.corp.example.com', 'CORP\\PARIS', 5))
      const { status, type, frames } = await live
      assert.equal(status, 200)
      assert.equal(type, 'text/event-stream; charset=utf-8')
      assert.deepEqual(
        frames.map((f) => [
          f.event,
          f.data.type,
          (f.data.data as { kvno: number }).kvno,
          f.id === String(f.data.seq),
        ]),
        [
          ['CredentialApplied', CredentialApplied.type, 3, true],
          ['CredentialApplied', CredentialApplied.type, 7, true],
          ['CredentialApplied', CredentialApplied.type, 5, true],
        ],
        'the forged report (kvno 99) is not among them',
      )
    })

    test('a reconnect resumes after its Last-Event-ID; filters apply; no heartbeat unless asked for', async () => {
      const all = (await get('?type=CredentialApplied')).body.events
      const resumed = await read('?type=CredentialApplied', 2, { 'last-event-id': String(all[0]!.seq) }, 3000)
      assert.deepEqual(
        resumed.frames.map((f) => f.data.seq),
        all.slice(1, 3).map((e) => e.seq),
      )
      const oslo = await read(`?site=oslo&from=1`, 4, {}, 3000)
      assert.deepEqual(
        oslo.frames.map((f) => f.event),
        ['SiteAdded', 'PoolAdded', 'ServerAddedToSite', 'CredentialApplied'],
      )
      const untyped = await read('?from=1', 100, {}, 2000)
      assert.ok(untyped.frames.length >= 9)
      assert.ok(!untyped.frames.some((f) => f.event === 'AgentHeartbeat'), 'no heartbeat')
    })

    test('no token: 401; a bad Last-Event-ID: 400 naming the header', async () => {
      const anonymous = await fetch(`${url}/v1/events/stream`)
      assert.equal(anonymous.status, 401)
      const bad = await fetch(`${url}/v1/events/stream`, {
        headers: { ...auth('viewer'), 'last-event-id': 'x' },
      })
      assert.equal(bad.status, 400)
      assert.equal(((await bad.json()) as { error: { field: string } }).error.field, 'headers.last-event-id')
    })

    test('the console closes while a stream is open: the stream ends, the close does not hang', async () => {
      const response = await fetch(`${url}/v1/events/stream`, { headers: auth('viewer') })
      assert.equal(response.status, 200)
      const body = response.body!.pipeThrough(new TextDecoderStream())
      const drained = (async () => {
        for await (const _ of body);
        return 'ended'
      })()
      await world.app.close()
      assert.equal(await drained, 'ended')
    })
  })
})
