import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ErrorCode, KrbfleetError, TerminalError, ValidationError } from '@krbfleet/contracts'
import { refusalDetail } from '../src/plugins/audit.ts'
import { errorBody, refusalOf } from '../src/plugins/errors.ts'

/** How an error of a request reads in the answer and in the audit trail (plugins/errors, audit). */

const leaky = 'bind as CN=svc,OU=x with password hunter2 failed'

test('given a KrbfleetError, when mapped, then its code decides the status and its text is answered', () => {
  const conflict = new KrbfleetError(ErrorCode.Conflict, 'site: Redmond exists', {
    field: 'site',
    details: { site: 'Redmond' },
  })
  const { status, error } = refusalOf(conflict)
  assert.equal(status, 409)
  assert.equal(error, conflict)
  assert.deepEqual(errorBody(error), {
    code: 'conflict',
    message: 'site: Redmond exists',
    field: 'site',
    details: { site: 'Redmond' },
  })
  assert.equal(refusalDetail(error), 'conflict: site: Redmond exists')
  assert.equal(refusalOf(new KrbfleetError(ErrorCode.Forbidden, 'no')).status, 403)
  assert.equal(refusalOf(new KrbfleetError(ErrorCode.Unauthorized, 'who')).status, 401)
})

test('given a validation error, when mapped, then it is a 400 naming the field', () => {
  const invalid = new ValidationError([{ field: 'dryRun', rule: 'must be boolean' }], 'body')
  const { status, error } = refusalOf(invalid)
  assert.equal(status, 400)
  assert.equal(errorBody(error).code, 'invalid')
  assert.equal(errorBody(error).field, 'dryRun')
})

test("given fastify's own 4xx refusal, when mapped, then its status stays and the code is invalid", () => {
  const tooLarge = Object.assign(new Error('Request body is too large'), { statusCode: 413 })
  const { status, error } = refusalOf(tooLarge)
  assert.equal(status, 413)
  assert.deepEqual(errorBody(error), { code: 'invalid', message: 'Request body is too large' })
})

test('given an unexpected error, when mapped, then it is a 500 whose text reaches neither answer nor audit', () => {
  for (const err of [
    new Error(leaky),
    new TerminalError(leaky),
    Object.assign(new Error(leaky), { statusCode: 502 }),
  ]) {
    const { status, error } = refusalOf(err)
    assert.equal(status, 500)
    assert.deepEqual(errorBody(error), { code: 'internal', message: 'internal error' })
    assert.equal(refusalDetail(error), 'internal: internal error')
  }
  const internal = new KrbfleetError(ErrorCode.Internal, leaky, { details: { dn: leaky } })
  assert.deepEqual(errorBody(refusalOf(internal).error), { code: 'internal', message: 'internal error' })
  assert.equal(refusalDetail(internal), 'internal: internal error')
})
