import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AgentHeartbeat } from '@krbfleet/contracts'
import { ConfigError, loadConfig } from '@krbfleet/runtime'
import fc from 'fast-check'
import {
  AgentConfig,
  heartbeatEvent,
  heartbeatEventId,
  heartbeatPhase,
  heartbeatTick,
  resolveAgentConfig,
  untilNextBeat,
} from '../src/index.ts'

/** fe01's heartbeat of tick 10 (1 s ticks), holding nothing. */
const fe01Beat = (extra: { at?: number; phaseMs?: number } = {}) =>
  heartbeatEvent({
    server: 'fe01.corp.example.com',
    backend: 'keytab',
    kvnos: [],
    tick: 10,
    intervalMs: 1000,
    ...extra,
  })

describe('heartbeat ids', () => {
  it('given the same server and tick, then the same id (a retried publish dedupes)', () => {
    assert.equal(heartbeatEventId('fe01.corp.example.com', 42), heartbeatEventId('fe01.corp.example.com', 42))
    assert.notEqual(
      heartbeatEventId('fe01.corp.example.com', 42),
      heartbeatEventId('fe01.corp.example.com', 43),
    )
    assert.notEqual(
      heartbeatEventId('fe01.corp.example.com', 42),
      heartbeatEventId('fe02.corp.example.com', 42),
    )
  })

  it('given other content in the same tick, then another id (a heartbeat sent at once after a change is kept)', () => {
    const server = 'fe01.corp.example.com'
    assert.equal(heartbeatEventId(server, 42, '[1]'), heartbeatEventId(server, 42, '[1]'))
    assert.notEqual(heartbeatEventId(server, 42, '[1]'), heartbeatEventId(server, 42, '[2]'))
    assert.match(heartbeatEventId(server, 42, '[1]'), /^heartbeat-[A-Za-z0-9_-]{22}-42-[A-Za-z0-9_-]{8}$/)
  })

  it('given any server name up to 253 characters, then the id fits the envelope (64 characters)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 253 }),
        fc.nat({ max: 2 ** 45 }),
        fc.string(),
        (server, tick, content) => {
          assert.ok(heartbeatEventId(server, tick).length <= 64)
          assert.ok(heartbeatEventId(server, tick, content).length <= 64)
        },
      ),
    )
  })

  it('given a time, then the tick is the interval count since the epoch and the event is valid', () => {
    assert.equal(heartbeatTick(10_999, 1000), 10)
    const event = fe01Beat()
    assert.deepEqual(AgentHeartbeat.decode(event), event)
    assert.equal(event.occurredAt, new Date(10_000).toISOString())
    assert.equal(event.actor, 'agent:fe01.corp.example.com')
    // Built twice for the same tick: the same envelope, byte for byte.
    assert.deepEqual(fe01Beat(), event)
    // Out of turn (at once after a change): its own time, newer than the tick's start.
    const now = fe01Beat({ at: 10_250 })
    assert.equal(now.occurredAt, new Date(10_250).toISOString())
  })

  it('given a fleet, then its heartbeat times spread over the interval, each server at its own fixed phase', () => {
    const interval = 30_000
    const phases = Array.from({ length: 1000 }, (_, i) =>
      heartbeatPhase(`web${i}.corp.example.com`, interval),
    )
    assert.deepEqual(
      phases.slice(0, 10),
      phases.slice(0, 10).map((_, i) => heartbeatPhase(`web${i}.corp.example.com`, interval)),
    )
    // Ten buckets of 3 s each: none holds more than twice its share of 100.
    const buckets = Array.from(
      { length: 10 },
      (_, b) => phases.filter((p) => Math.floor(p / 3000) === b).length,
    )
    assert.ok(
      buckets.every((n) => n > 50 && n < 200),
      `per 3 s: ${buckets.join(', ')}`,
    )
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 42 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.nat(),
        (now, intervalMs, p) => {
          const phase = p % intervalMs
          const wait = untilNextBeat(now, intervalMs, phase)
          assert.ok(wait >= 1 && wait <= intervalMs)
          // The next beat is the start of the following tick, at the phase.
          assert.equal(
            heartbeatTick(now + wait, intervalMs, phase),
            heartbeatTick(now, intervalMs, phase) + 1,
          )
          assert.equal((now + wait - phase) % intervalMs, 0)
        },
      ),
    )
    const event = fe01Beat({ phaseMs: 370 })
    assert.equal(event.occurredAt, new Date(10_370).toISOString())
  })
})

describe('agent configuration', () => {
  const load = (env: Record<string, string>) => resolveAgentConfig(loadConfig(AgentConfig, { env }))

  it('given only the server, then the defaults apply and the key file is under the state folder', () => {
    const config = load({
      KRBFLEET_AGENT_SERVER: 'FE01.Corp.Example.COM.',
      KRBFLEET_AGENT_STATE_DIR: '/srv/agent',
    })
    assert.equal(config.agent.server, 'fe01.corp.example.com')
    assert.equal(config.agent.backend, 'keytab')
    assert.equal(config.agent.keyFile, '/srv/agent/agent-key.pem')
    assert.equal(config.agent.heartbeatIntervalMs, 30_000)
    assert.equal(config.http.port, 9110)
    assert.deepEqual(config.nats.url, ['nats://127.0.0.1:4222'])
  })

  it('given a key file, then it is used as given', () => {
    const config = load({
      KRBFLEET_AGENT_SERVER: 'fe01.corp.example.com',
      KRBFLEET_AGENT_KEY_FILE: '/k/agent.pem',
    })
    assert.equal(config.agent.keyFile, '/k/agent.pem')
  })

  for (const [name, env, setting, rule] of [
    ['no server', {}, 'KRBFLEET_AGENT_SERVER', /is required/],
    ['a short name', { KRBFLEET_AGENT_SERVER: 'fe01' }, 'KRBFLEET_AGENT_SERVER', /not fully qualified/],
    ['a bad label', { KRBFLEET_AGENT_SERVER: 'fe_01.corp.example.com' }, 'KRBFLEET_AGENT_SERVER', /RFC 1123/],
    [
      'an unknown backend',
      { KRBFLEET_AGENT_SERVER: 'fe01.corp.example.com', KRBFLEET_AGENT_BACKEND: 'nginx' },
      'KRBFLEET_AGENT_BACKEND',
      /./,
    ],
    [
      'a heartbeat too fast',
      { KRBFLEET_AGENT_SERVER: 'fe01.corp.example.com', KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: '10' },
      'KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS',
      /100/,
    ],
  ] as const) {
    it(`given ${name}, then loading fails naming ${setting}`, () => {
      assert.throws(
        () => load(env as Record<string, string>),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError)
          assert.ok(
            err.settings.some((s) => s.startsWith(setting)),
            `${err.settings.join(', ')} names ${setting}`,
          )
          assert.match(err.message, rule)
          return true
        },
      )
    })
  }
})
