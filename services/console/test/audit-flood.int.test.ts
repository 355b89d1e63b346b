import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { busOptionsFromSettings } from '@krbfleet/bus'
import { ChangeRecorded, type EventEnvelope, ServiceName, streams } from '@krbfleet/contracts'
import { until } from '@krbfleet/testing'
import {
  auth,
  type ConsoleWorld,
  lastSeq,
  type StandInCall,
  startConsoleWorld,
  startStandIns,
  storedEvents,
} from './helpers.ts'

/**
 * Issue 10: a viewer token sending refused writes wrote 4,845 audit events in 42 s into an events
 * stream without a size limit. Against a real nats-server whose events stream is held small by the
 * stream-limit settings (KRBFLEET_NATS_EVENTS_MAX_BYTES / _MAX_MESSAGES), a viewer floods refused
 * writes: most are answered 429 with Retry-After, the refusals are recorded one by one only up to
 * the per-token budget and summed up by one record when the window ends, /metrics counts what was
 * not recorded, the stream stays within its limits, and an operator's real change still publishes.
 */

const MiB = 1024 * 1024
const flood = 400
const budget = 10
const rateMax = 60

type Audit = EventEnvelope & { data: { action: string; target: string; outcome: string; detail?: string } }

describe('a viewer floods refused writes', { timeout: 120_000 }, () => {
  let world: ConsoleWorld
  let standIns: { calls: StandInCall[]; stop(): Promise<void> }
  before(async () => {
    const limits = busOptionsFromSettings({
      url: 'nats://unused',
      eventsMaxBytes: MiB,
      eventsMaxMessages: 1000,
    })
    world = await startConsoleWorld({
      bus: { streamLimits: limits.streamLimits ?? {} },
      // A window longer than the flood, so that the counts below are exact.
      rateLimit: { max: rateMax, anonymousMax: 20, windowSeconds: 60 },
      // 3 s instead of a minute, so that the window's summary comes within the test.
      auditRefusals: { perWindow: budget, windowMs: 3000 },
    })
    standIns = await startStandIns(world.bus)
  })
  after(async () => {
    await standIns?.stop()
    await world?.stop()
  })

  test('bounded audit, 429 with Retry-After, counted in /metrics; a real change still publishes', async (t) => {
    const from = await lastSeq(world.bus)
    const started = Date.now()
    const answers: { status: number; retryAfter: string | undefined; code: string }[] = []
    for (let sent = 0; sent < flood; sent += 25) {
      const batch = Array.from({ length: 25 }, (_, i) =>
        world.app.inject({
          method: 'POST',
          url: '/v1/sites',
          headers: auth('viewer'),
          payload: { name: `Flood${sent + i}` },
        }),
      )
      for (const r of await Promise.all(batch)) {
        const retryAfter = r.headers['retry-after']
        answers.push({
          status: r.statusCode,
          retryAfter: retryAfter as string | undefined,
          code: r.json().error.code,
        })
      }
    }
    t.diagnostic(
      `flood of ${flood} took ${Date.now() - started} ms: ${JSON.stringify(
        Object.groupBy(answers, (a) => `${a.status} ${a.code}`),
        (_key, v) => (Array.isArray(v) ? v.length : v),
      )}`,
    )
    const forbidden = answers.filter((a) => a.status === 403)
    const limited = answers.filter((a) => a.status === 429)
    assert.equal(forbidden.length, rateMax, 'the first requests of the window reach the role check')
    assert.equal(limited.length, flood - rateMax)
    for (const a of limited) {
      assert.equal(a.code, 'rate_limited')
      assert.match(a.retryAfter ?? '', /^[1-9][0-9]*$/, 'Retry-After in whole seconds')
      assert.ok(Number(a.retryAfter) <= 60)
    }

    // The window's summary comes when it ends (3 s after the first refusal).
    const viewerAudits = async () =>
      ((await storedEvents(world.bus, from + 1)) as Audit[]).filter(
        (e) => e.type === ChangeRecorded.type && e.actor === 'token:viewer-token',
      )
    const summaryOf = (events: Audit[]) => events.filter((e) => e.data.action === 'audit.refusals-summary')
    await until('the summary of the refusals', async () => summaryOf(await viewerAudits()).length > 0)
    const audits = await viewerAudits()
    const summaries = summaryOf(audits)
    const individual = audits.filter((e) => e.data.action === 'site.add')
    assert.equal(individual.length, budget, 'the first refusals of the window are recorded one by one')
    assert.equal(summaries.length, 1)
    assert.equal(audits.length, budget + 1, 'nothing else from the flood reached the stream')
    const summary = summaries[0] as Audit
    assert.equal(summary.data.target, 'token:viewer-token')
    assert.equal(summary.data.outcome, 'refused')
    const suppressed = flood - budget
    assert.match(
      summary.data.detail ?? '',
      new RegExp(
        `^${suppressed} refused requests of token:viewer-token not audited individually .*\\(${budget} were\\): ` +
          `${rateMax - budget} over the budget of ${budget}, ${flood - rateMax} answered 429 by the rate limit; ` +
          `actions: site.add ${suppressed}$`,
      ),
    )
    for (const e of individual)
      assert.match(e.data.detail ?? '', /^forbidden: POST \/v1\/sites needs the admin role/)

    // /metrics (with another token: the viewer's window is spent) counts what was not recorded.
    const metrics = await world.app.inject({ method: 'GET', url: '/metrics', headers: auth('admin') })
    assert.equal(metrics.statusCode, 200)
    assert.match(
      metrics.body,
      new RegExp(`krbfleet_console_audit_suppressed_total\\{reason="budget"\\} ${rateMax - budget}\\n`),
    )
    assert.match(
      metrics.body,
      new RegExp(`krbfleet_console_audit_suppressed_total\\{reason="rate_limited"\\} ${flood - rateMax}\\n`),
    )
    assert.match(
      metrics.body,
      new RegExp(`krbfleet_console_rate_limited_total\\{caller="token"\\} ${flood - rateMax}\\n`),
    )

    // The events stream has the limits of the settings and stays within them.
    const info = await world.bus.jsm.streams.info(streams.events.name)
    assert.equal(info.config.max_bytes, MiB)
    assert.equal(info.config.max_msgs, 1000)
    assert.equal(info.config.discard, 'old')
    t.diagnostic(`events stream: ${info.state.messages} messages, ${info.state.bytes} bytes`)
    assert.ok(info.state.bytes <= MiB, `${info.state.bytes} bytes`)
    assert.ok(info.state.messages <= 1000, `${info.state.messages} messages`)

    // A real change after the flood: an operator's reconcile is applied and recorded.
    const beforeReal = await lastSeq(world.bus)
    const real = await world.app.inject({
      method: 'POST',
      url: '/v1/spn/reconcile',
      headers: auth('operator'),
    })
    assert.equal(real.statusCode, 200, real.body)
    assert.deepEqual(
      standIns.calls.filter((c) => c.service === ServiceName.SpnSync).map((c) => c.operation),
      ['spn.reconcile'],
    )
    const recorded = ((await storedEvents(world.bus, beforeReal + 1)) as Audit[]).filter(
      (e) => e.type === ChangeRecorded.type,
    )
    assert.deepEqual(
      recorded.map((e) => [e.actor, e.data.action, e.data.outcome]),
      [['token:operator-token', 'spn.reconcile', 'applied']],
    )
  })
})
