import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { codec, ErrorCode, KrbfleetError, ServiceName } from '@krbfleet/contracts'
import { type NatsServer, startNats } from '@krbfleet/testing'
import { headers } from '@nats-io/nats-core'
import Type from 'typebox'
import {
  ActorHeader,
  type Bus,
  CorrelationIdHeader,
  callRpc,
  PartHeader,
  connectBus,
  type RpcContext,
  serveRpc,
} from '../src/index.ts'
import { captureLogs } from './helpers.ts'

const AddSite = codec(
  Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
  'site.add request',
)

describe('serveRpc / callRpc against a real nats-server', () => {
  let nats: NatsServer
  let server: Bus
  let client: Bus
  const logs = captureLogs()
  before(async () => {
    nats = await startNats()
    server = await connectBus({ servers: nats.url, name: 'rpc-server', logger: logs.logger })
    client = await connectBus({ servers: nats.url, name: 'rpc-client', logger: captureLogs().logger })
  })
  after(async () => {
    await client?.close()
    await server?.close()
    await nats?.stop()
  })

  test('round trip carries the body, the actor and the correlation id', async () => {
    const contexts: RpcContext[] = []
    const rpc = serveRpc(server, {
      service: ServiceName.Topology,
      operation: 'site.add',
      request: AddSite,
      handle(body, ctx) {
        contexts.push(ctx)
        return { added: body.name }
      },
    })
    await rpc.ready
    try {
      const result = await callRpc<{ added: string }>(
        client,
        ServiceName.Topology,
        'site.add',
        { name: 'paris' },
        {
          actor: 'user:alice',
          correlationId: 'corr-1',
        },
      )
      assert.deepEqual(result, { added: 'paris' })
      assert.equal(contexts[0]?.actor, 'user:alice')
      assert.equal(contexts[0]?.correlationId, 'corr-1')
      // Without a correlation id the server makes one.
      await callRpc(client, ServiceName.Topology, 'site.add', { name: 'lyon' }, { actor: 'user:alice' })
      assert.ok((contexts[1]?.correlationId.length ?? 0) > 0)
    } finally {
      await rpc.stop()
    }
  })

  test('invalid input is answered as invalid, naming the field; the handler never sees it', async () => {
    let calls = 0
    const rpc = serveRpc(server, {
      service: ServiceName.Topology,
      operation: 'site.add',
      request: AddSite,
      handle() {
        calls++
        return null
      },
    })
    await rpc.ready
    try {
      await assert.rejects(
        callRpc(client, ServiceName.Topology, 'site.add', { name: '' }, { actor: 'user:alice' }),
        (err: unknown) =>
          err instanceof KrbfleetError && err.code === ErrorCode.Invalid && err.field === 'name',
      )
      await assert.rejects(
        callRpc(client, ServiceName.Topology, 'site.add', { name: 'x', extra: 1 }, { actor: 'user:alice' }),
        { code: 'invalid', message: /extra: is not an allowed property/ },
      )
      // Bytes that are not JSON, and a request without an actor, sent by hand.
      const raw = await client.nc.request('krbfleet.rpc.topology.site.add', 'not json', {
        timeout: 5000,
        headers: (() => {
          const h = headers()
          h.set(ActorHeader, 'user:alice')
          return h
        })(),
      })
      assert.equal(raw.json<{ ok: boolean; error: { code: string } }>().error.code, 'invalid')
      const anonymous = await client.nc.request(
        'krbfleet.rpc.topology.site.add',
        JSON.stringify({ name: 'x' }),
        {
          timeout: 5000,
        },
      )
      assert.match(anonymous.json<{ error: { message: string } }>().error.message, /krbfleet-actor/)
      assert.equal(calls, 0)
    } finally {
      await rpc.stop()
    }
  })

  test('an actor or correlation id header the event envelope would refuse is invalid, naming the header; the handler never runs', async () => {
    let calls = 0
    const rpc = serveRpc(server, {
      service: ServiceName.Topology,
      operation: 'site.add',
      request: AddSite,
      handle() {
        calls++
        return null
      },
    })
    await rpc.ready
    const send = async (set: Array<[string, string]>) => {
      const h = headers()
      for (const [name, value] of set) h.append(name, value)
      const m = await client.nc.request('krbfleet.rpc.topology.site.add', JSON.stringify({ name: 'x' }), {
        timeout: 5000,
        headers: h,
      })
      return m.json<{ ok: boolean; error?: { code: string; field?: string; message: string } }>()
    }
    try {
      const cases: Array<{ set: Array<[string, string]>; field: string; rule: RegExp }> = [
        { set: [[ActorHeader, 'a'.repeat(257)]], field: ActorHeader, rule: /at most 256/ },
        { set: [[ActorHeader, '']], field: ActorHeader, rule: /required/ },
        {
          set: [
            [ActorHeader, 'user:a'],
            [ActorHeader, 'user:b'],
          ],
          field: ActorHeader,
          rule: /once/,
        },
        {
          set: [
            [ActorHeader, 'user:alice'],
            [CorrelationIdHeader, 'c'.repeat(65)],
          ],
          field: CorrelationIdHeader,
          rule: /at most 64/,
        },
        {
          set: [
            [ActorHeader, 'user:alice'],
            [CorrelationIdHeader, ''],
          ],
          field: CorrelationIdHeader,
          rule: /must not be empty/,
        },
      ]
      for (const { set, field, rule } of cases) {
        const reply = await send(set)
        assert.equal(reply.ok, false, JSON.stringify(set).slice(0, 80))
        assert.equal(reply.error?.code, 'invalid')
        assert.equal(reply.error?.field, field)
        assert.match(reply.error?.message ?? '', rule)
      }
      assert.equal(calls, 0, 'the handler never ran')
      // The limits themselves are accepted.
      assert.equal(
        (
          await send([
            [ActorHeader, 'a'.repeat(256)],
            [CorrelationIdHeader, 'c'.repeat(64)],
          ])
        ).ok,
        true,
      )
      await assert.rejects(
        callRpc(client, ServiceName.Topology, 'site.add', { name: 'x' }, { actor: 'u'.repeat(300) }),
        { code: 'invalid', field: ActorHeader },
      )
      assert.equal(calls, 1)
    } finally {
      await rpc.stop()
    }
  })

  test('handler errors become wire errors (their log context only in the service log); unknown errors become internal without their text', async () => {
    const rpc = serveRpc(server, {
      service: ServiceName.Account,
      operation: 'account.new',
      request: AddSite,
      handle(body) {
        if (body.name === 'taken') {
          throw new KrbfleetError(ErrorCode.AlreadyExists, 'account CORP\\TAKEN exists', {
            field: 'name',
            details: { dn: 'CN=TAKEN' },
            logContext: { dcText: '00002071: samldb: entry exists' },
          })
        }
        throw new Error('ldap password=hunter2 leaked')
      },
    })
    await rpc.ready
    try {
      await assert.rejects(
        callRpc(client, ServiceName.Account, 'account.new', { name: 'taken' }, { actor: 'user:bob' }),
        (err: unknown) =>
          err instanceof KrbfleetError &&
          err.code === 'already_exists' &&
          err.field === 'name' &&
          (err.details as { dn: string }).dn === 'CN=TAKEN' &&
          err.retryable === false &&
          !JSON.stringify(err).includes('00002071') &&
          err.logContext === undefined,
      )
      const refused = await logs.waitFor((r) => r.msg === 'refused: account CORP\\TAKEN exists')
      assert.equal(
        refused.dcText,
        '00002071: samldb: entry exists',
        'the log context reaches the service log only',
      )
      await assert.rejects(
        callRpc(client, ServiceName.Account, 'account.new', { name: 'boom' }, { actor: 'user:bob' }),
        (err: unknown) =>
          err instanceof KrbfleetError && err.code === 'internal' && !err.message.includes('hunter2'),
      )
      const logged = await logs.waitFor((r) => r.msg === 'request failed with an unexpected error')
      assert.equal(logged.operation, 'account.new')
    } finally {
      await rpc.stop()
    }
  })

  test('no responders -> unavailable; no answer in time -> timeout', async () => {
    await assert.rejects(
      callRpc(client, ServiceName.SpnSync, 'plan', {}, { actor: 'user:alice' }),
      (err: unknown) => err instanceof KrbfleetError && err.code === ErrorCode.Unavailable && err.retryable,
    )
    // The gate exists before the request is sent: on a loaded machine the 200 ms timeout can fire
    // before the handler has run, and a handler that starts later must still be releasable so that
    // rpc.stop() (which awaits in-flight handlers) returns.
    const gate = Promise.withResolvers<void>()
    const rpc = serveRpc(server, {
      service: ServiceName.SpnSync,
      operation: 'plan',
      request: codec(Type.Object({})),
      handle: () => gate.promise.then(() => null),
    })
    await rpc.ready
    try {
      await assert.rejects(
        callRpc(client, ServiceName.SpnSync, 'plan', {}, { actor: 'user:alice', timeoutMs: 200 }),
        (err: unknown) => err instanceof KrbfleetError && err.code === ErrorCode.Timeout && err.retryable,
      )
    } finally {
      gate.resolve()
      await rpc.stop()
    }
  })

  test('an answer larger than one NATS message comes in parts and is joined; one beyond the parts allowed is refused by name', async () => {
    const List = codec(
      Type.Object({ rows: Type.Integer({ minimum: 0, maximum: 100_000 }) }, { additionalProperties: false }),
      'row.list request',
    )
    const rpc = serveRpc(server, {
      service: ServiceName.Topology,
      operation: 'row.list',
      request: List,
      handle: ({ rows }) => ({
        rows: Array.from({ length: rows }, (_, i) => ({
          server: `fe${String(i).padStart(6, '0')}.corp`,
          note: 'x'.repeat(400),
        })),
      }),
    })
    await rpc.ready
    const parts: string[] = []
    const spy = client.nc.subscribe('_INBOX.>', {
      callback: (_err, m) => {
        const part = m.headers?.get(PartHeader)
        if (part) parts.push(part)
      },
    })
    try {
      const maxPayload = client.nc.info?.max_payload ?? 0
      const answer = await callRpc<{ rows: Array<{ server: string; note: string }> }>(
        client,
        ServiceName.Topology,
        'row.list',
        { rows: 10_000 },
        { actor: 'user:alice' },
      )
      assert.equal(answer.rows.length, 10_000)
      assert.equal(answer.rows[9_999]?.server, 'fe009999.corp')
      assert.ok(JSON.stringify(answer).length > 3 * maxPayload, 'the answer is several messages long')
      await client.nc.flush()
      assert.deepEqual(parts, ['1/5', '2/5', '3/5', '4/5', '5/5'])

      await assert.rejects(
        callRpc(client, ServiceName.Topology, 'row.list', { rows: 45_000 }, { actor: 'user:alice' }),
        (err: unknown) =>
          err instanceof KrbfleetError &&
          err.code === ErrorCode.Invalid &&
          /^the answer of row\.list is 18\.8 MiB, over the 15\.9 MiB an answer may have: ask for less/.test(
            err.message,
          ),
      )
      // Small answers stay one message without a part header.
      parts.length = 0
      assert.equal(
        (
          await callRpc<{ rows: unknown[] }>(
            client,
            ServiceName.Topology,
            'row.list',
            { rows: 2 },
            { actor: 'user:alice' },
          )
        ).rows.length,
        2,
      )
      await client.nc.flush()
      assert.deepEqual(parts, [])
    } finally {
      spy.unsubscribe()
      await rpc.stop()
    }
  })

  test('replicas share the queue group: each request is answered once', async () => {
    const answeredBy: string[] = []
    const replicas = ['a', 'b'].map((name) =>
      serveRpc(server, {
        service: ServiceName.Topology,
        operation: 'ping',
        request: codec(Type.Null()),
        handle() {
          answeredBy.push(name)
          return name
        },
      }),
    )
    await Promise.all(replicas.map((r) => r.ready))
    try {
      for (let i = 0; i < 20; i++)
        await callRpc(client, ServiceName.Topology, 'ping', null, { actor: 'user:a' })
      assert.equal(answeredBy.length, 20)
    } finally {
      await Promise.all(replicas.map((r) => r.stop()))
    }
  })

  test('stop waits for requests in progress to be answered', async () => {
    let started!: () => void
    const inHandler = new Promise<void>((r) => (started = r))
    const rpc = serveRpc(server, {
      service: ServiceName.Topology,
      operation: 'slow',
      request: codec(Type.Null()),
      async handle() {
        started()
        await new Promise((r) => setImmediate(r))
        return 'done'
      },
    })
    await rpc.ready
    const call = callRpc(client, ServiceName.Topology, 'slow', null, { actor: 'user:a' })
    await inHandler
    await rpc.stop()
    assert.equal(await call, 'done')
  })
})
