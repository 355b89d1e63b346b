import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  AgentHeartbeat,
  AnyEnvelope,
  allEvents,
  ErrorCode,
  errorFromWire,
  KrbfleetError,
  normalizeFqdn,
  normalizeHostName,
  PasswordReset,
  parseAccountName,
  ServerAddedToSite,
  SiteAdded,
  streamOf,
  streams,
  subjects,
  ValidationError,
} from '../src/index.ts'

const meta = { actor: 'token:ops' }

describe('event envelopes', () => {
  test('every event type is versioned, unique and published under the events stream, heartbeats under their own', () => {
    const types = new Set<string>()
    for (const event of allEvents) {
      assert.match(event.type, /^krbfleet\.[a-z-]+\.[A-Za-z]+\.v\d+$/)
      assert.ok(!types.has(event.type), `duplicate type ${event.type}`)
      types.add(event.type)
      const stream = event === AgentHeartbeat ? streams.heartbeats : streams.events
      assert.equal(streamOf(event.subjects), stream, event.subject)
      assert.ok(event.subject.startsWith(`${stream.subjects[0]!.slice(0, -1)}`), event.subject)
    }
    assert.deepEqual(streams.events.subjects, [subjects.allEvents])
    assert.deepEqual(streams.heartbeats.subjects, [subjects.allHeartbeats])
    assert.equal(
      AgentHeartbeat.subjectOf({ server: 'fe01.corp', backend: 'iis', kvnos: [] }),
      'krbfleet.heartbeats.agent.AgentHeartbeat.fe01_corp',
    )
  })

  test('create fills the envelope and the result decodes', () => {
    const event = SiteAdded.create({ site: 'emea' }, meta)
    assert.equal(event.type, 'krbfleet.topology.SiteAdded.v1')
    assert.equal(event.correlationId, event.id, 'a root event correlates with itself')
    assert.equal(event.causationId, null)
    assert.deepEqual(SiteAdded.decode(JSON.parse(JSON.stringify(event))), event)
  })

  test('a deterministic id is kept (retried publishes dedupe on it)', () => {
    const a = SiteAdded.create({ site: 'emea' }, { ...meta, id: 'draft-7-0' })
    assert.equal(a.id, 'draft-7-0')
  })

  // Each schema rejects a malformed payload with a message naming the field.
  for (const event of allEvents) {
    test(`${event.name} rejects a malformed payload naming the field`, () => {
      const envelope = { ...SiteAdded.create({ site: 'x' }, meta), type: event.type, data: { unexpected: 1 } }
      const error = catchError(() => event.decode(envelope))
      assert.ok(error instanceof ValidationError)
      assert.equal(error.code, ErrorCode.Invalid)
      assert.ok(
        error.issues.some((i) => i.field.startsWith('data.')),
        `issues name a data field: ${JSON.stringify(error.issues)}`,
      )
      assert.match(error.message, /data\./)
    })
  }

  test('a wrong field type is named with its path and rule', () => {
    const event = ServerAddedToSite.create(
      { server: 'web1.corp.example.com', pool: 'p', site: 's', backend: 'keytab' },
      meta,
    )
    const error = catchError(() =>
      ServerAddedToSite.decode({ ...event, data: { ...event.data, backend: 'ftp' } }),
    )
    assert.ok(error instanceof ValidationError)
    assert.ok(
      error.issues.some((i) => i.field === 'data.backend'),
      JSON.stringify(error.issues),
    )
  })

  test('a missing envelope field is named', () => {
    const { actor: _actor, ...withoutActor } = PasswordReset.create(
      { account: 'CORP\\KERBAUTH', kvno: 3, reason: 'manual' },
      meta,
    )
    const error = catchError(() => PasswordReset.decode(withoutActor))
    assert.ok(error instanceof ValidationError)
    assert.ok(
      error.issues.some((i) => i.field === 'actor' && i.rule === 'is required'),
      JSON.stringify(error.issues),
    )
  })

  test('AnyEnvelope reads the type of an event it does not know', () => {
    const decoded = AnyEnvelope.decode({
      ...SiteAdded.create({ site: 'x' }, meta),
      type: 'krbfleet.future.Thing.v9',
    })
    assert.equal(decoded.type, 'krbfleet.future.Thing.v9')
  })
})

describe('names', () => {
  test('FQDNs are stored lower-case, trailing dot dropped', () => {
    assert.equal(normalizeFqdn('Pool01.CORP.example.com.', 'pool.fqdn'), 'pool01.corp.example.com')
  })

  for (const bad of [
    '',
    'pool01',
    '-a.example.com',
    'a-.example.com',
    'a..example.com',
    'a_b.example.com',
    `${'a'.repeat(64)}.com`,
  ]) {
    test(`FQDN '${bad}' is refused naming the field`, () => {
      const error = catchError(() => normalizeFqdn(bad, 'pool.fqdn'))
      assert.ok(error instanceof KrbfleetError)
      assert.equal(error.code, ErrorCode.RuleViolation)
      assert.equal(error.field, 'pool.fqdn')
      assert.match(error.message, /^pool\.fqdn: /)
    })
  }

  test('a short host name is a valid host name but not an FQDN', () => {
    assert.equal(normalizeHostName('WebPool', 'alias'), 'webpool')
    assert.throws(() => normalizeFqdn('webpool', 'alias'), /not fully qualified/)
  })

  test('DOMAIN\\NAME parses to the canonical form and the computer sAMAccountName', () => {
    assert.deepEqual(parseAccountName('corp\\kerbauth'), {
      domain: 'CORP',
      name: 'KERBAUTH',
      id: 'CORP\\KERBAUTH',
      samAccountName: 'KERBAUTH$',
    })
  })

  test('the name part is limited to 15 characters (NetBIOS)', () => {
    assert.equal(parseAccountName('CORP\\ABCDEFGHIJKLMNO').name.length, 15)
    assert.throws(() => parseAccountName('CORP\\ABCDEFGHIJKLMNOP'), /at most 15/)
  })

  for (const bad of [
    'KERBAUTH',
    'CORP/KERBAUTH',
    'CORP\\',
    '\\KERBAUTH',
    'A\\B\\C',
    'CORP\\KERB AUTH',
    'CORP\\*)(x',
  ]) {
    test(`account '${bad}' is refused naming the field`, () => {
      const error = catchError(() => parseAccountName(bad, 'account'))
      assert.ok(error instanceof KrbfleetError)
      assert.equal(error.field, 'account')
    })
  }
})

describe('errors', () => {
  test('a KrbfleetError crosses the wire and keeps code, field, details and retryability', () => {
    const original = new KrbfleetError(ErrorCode.SpnConflict, 'HTTP/x is held by CN=B', {
      field: 'spn',
      details: { spn: 'HTTP/x' },
    })
    const copy = errorFromWire(JSON.parse(JSON.stringify(original.toWire())))
    assert.equal(copy.code, ErrorCode.SpnConflict)
    assert.equal(copy.field, 'spn')
    assert.deepEqual(copy.details, { spn: 'HTTP/x' })
    assert.equal(copy.retryable, false)
    assert.equal(copy.httpStatus, 409)
  })

  test('unavailable and timeout are retryable by default, rule violations are not', () => {
    assert.equal(new KrbfleetError(ErrorCode.Unavailable, 'x').retryable, true)
    assert.equal(new KrbfleetError(ErrorCode.Timeout, 'x').retryable, true)
    assert.equal(new KrbfleetError(ErrorCode.RuleViolation, 'x').retryable, false)
  })
})

describe('subjects', () => {
  test("an agent's credential is one key of the credentials bucket, read by direct get when its bell rings", () => {
    assert.equal(
      subjects.agentCredential('Web1.corp.example.com'),
      'krbfleet.agent.web1_corp_example_com.credential',
    )
    assert.equal(
      subjects.agentCredentialKey('Web1.corp.example.com'),
      '$KV.krbfleet-credentials.web1_corp_example_com',
    )
    assert.equal(
      subjects.agentCredentialGet('Web1.corp.example.com'),
      '$JS.API.DIRECT.GET.KV_krbfleet-credentials.$KV.krbfleet-credentials.web1_corp_example_com',
    )
  })

  test('rpc subjects refuse wildcards and spaces', () => {
    assert.equal(subjects.rpc('topology', 'site.add'), 'krbfleet.rpc.topology.site.add')
    assert.throws(() => subjects.rpc('topology', 'site.*'))
    assert.throws(() => subjects.rpc('topology', 'site >'))
  })
})

function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  assert.fail('expected an error')
}
