import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RefusalBudget, summaryDetail, suppressedIn } from '../src/domain/refusal-budget.ts'

const t0 = Date.parse('2026-01-01T12:00:00Z')
const actor = 'token:viewer'

test('given a budget of 3 a minute, when a token is refused 5 times, then 3 are audited and 2 counted', () => {
  const budget = new RefusalBudget({ perWindow: 3, windowMs: 60_000 })
  const audited = [0, 1, 2, 3, 4].map((i) => budget.admit(actor, 'site.add', t0 + i).audit)
  assert.deepEqual(audited, [true, true, true, false, false])
  assert.deepEqual(budget.close(t0 + 59_999), [], 'the window is still open')
  const [window, ...rest] = budget.close(t0 + 60_000)
  assert.equal(rest.length, 0)
  assert.ok(window)
  assert.equal(window.audited, 3)
  assert.deepEqual(window.suppressed, { budget: 2, rate_limited: 0 })
  assert.equal(suppressedIn(window), 2)
})

test('given the first refusal, when admitted, then it opens the window; later ones in it do not', () => {
  const budget = new RefusalBudget({ perWindow: 1, windowMs: 1000 })
  const first = budget.admit(actor, 'site.add', t0)
  assert.equal(first.opened?.endsAt, t0 + 1000)
  assert.equal(budget.admit(actor, 'site.add', t0 + 500).opened, undefined)
})

test('given two tokens, when both are refused, then each has a budget of its own', () => {
  const budget = new RefusalBudget({ perWindow: 1, windowMs: 1000 })
  assert.equal(budget.admit('token:a', 'site.add', t0).audit, true)
  assert.equal(budget.admit('token:b', 'site.add', t0).audit, true)
  assert.equal(budget.admit('token:a', 'site.add', t0).audit, false)
})

test('given an ended window nobody closed, when the token is refused again, then the old one is handed back', () => {
  const budget = new RefusalBudget({ perWindow: 1, windowMs: 1000 })
  budget.admit(actor, 'site.add', t0)
  budget.admit(actor, 'site.add', t0 + 1)
  const late = budget.admit(actor, 'pool.add', t0 + 1500)
  assert.equal(late.audit, true, 'a new window has a new budget')
  assert.equal(late.ended?.suppressed.budget, 1)
  assert.equal(late.opened?.startedAt, t0 + 1500)
})

test('given 429s of change routes, when counted, then they are in the summary with their reason', () => {
  const budget = new RefusalBudget({ perWindow: 2, windowMs: 60_000 })
  budget.admit(actor, 'site.add', t0)
  budget.admit(actor, 'site.add', t0)
  budget.admit(actor, 'site.add', t0)
  budget.suppress(actor, 'site.remove', 'rate_limited', t0)
  budget.suppress(actor, 'site.add', 'rate_limited', t0)
  const [window] = budget.close(Number.POSITIVE_INFINITY)
  assert.ok(window)
  assert.equal(
    summaryDetail(window, 2),
    '3 refused requests of token:viewer not audited individually in the 60 s from 2026-01-01T12:00:00.000Z ' +
      '(2 were): 1 over the budget of 2, 2 answered 429 by the rate limit; actions: site.add 2, site.remove 1',
  )
})

test('given a budget of 0, when refused, then nothing is audited individually', () => {
  const budget = new RefusalBudget({ perWindow: 0, windowMs: 1000 })
  assert.equal(budget.admit(actor, 'site.add', t0).audit, false)
})

test('given very many actions, when summed up, then the detail stays within the event limit', () => {
  const budget = new RefusalBudget({ perWindow: 0, windowMs: 1000 })
  for (let i = 0; i < 500; i++) budget.admit(actor, `action.number-${i}`, t0)
  const [window] = budget.close(Number.POSITIVE_INFINITY)
  assert.ok(window)
  const detail = summaryDetail(window, 0)
  assert.equal(detail.length, 1024)
  assert.match(detail, /^500 refused requests/)
})
