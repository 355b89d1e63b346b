import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Bus } from '@krbfleet/bus'
import { accountOperations as Op } from '@krbfleet/contracts'
import type { Directory } from '@krbfleet/directory'
import type { NatsServer, TestDc } from '@krbfleet/testing'
import { startWorld, type World } from '@krbfleet/testing/world'
import fc from 'fast-check'
import type { RunningAccountService } from '../src/start.ts'
import { caller, computerDns, LogCapture, newKek, startService } from './helpers.ts'

/**
 * Property over the real service: whatever body reaches an account operation, the answer is a
 * result or a KrbfleetError with a known code (never `internal`), and a refused request changes
 * nothing in AD. Names are drawn so that most requests are refused; the few valid creates are
 * checked to have made exactly their own object.
 */
const RUNS = Number(process.env.KRBFLEET_PROPERTY_RUNS ?? 300)

describe('account operations under random input', { timeout: 600_000 }, () => {
  let world: World
  let dc: TestDc
  let nats: NatsServer
  let service: RunningAccountService
  let bus: Bus
  let admin: Directory
  let call: ReturnType<typeof caller>

  before(async () => {
    world = await startWorld({ name: 'input-test' })
    ;({ dc, nats, bus, admin } = world)
    service = await startService(dc, nats, newKek().key, new LogCapture().logger())
    call = caller(bus)
  })

  after(async () => {
    await service?.stop()
    await world?.stop()
  })

  const accountText = fc.oneof(
    fc.constantFrom(
      'CORP\\',
      '\\X',
      'CORP\\A\\B',
      'OTHER\\P1',
      'corp\\abcdefghijklmnopq',
      '*)(cn=*',
      'CORP\\a*',
      '',
    ),
    fc.string({ maxLength: 20 }),
    fc.stringMatching(/^CORP\\[A-Z0-9]{1,14}[^A-Za-z0-9_-]$/),
    fc.stringMatching(/^CORP\\P[A-Z0-9]{1,6}$/),
  )
  const containerText = fc.oneof(
    fc.constantFrom(
      'OU=Nowhere,DC=corp,DC=example,DC=com',
      'CN=Computers,DC=other,DC=com',
      'CN=Users,DC=corp,DC=example,DC=com',
      'OU=a\\,b,DC=corp,DC=example,DC=com',
      'CN=*,DC=corp,DC=example,DC=com',
    ),
    fc.string({ maxLength: 30 }),
  )
  const scalar = fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null))
  const body = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record(
        {
          account: fc.oneof(accountText, scalar),
          containerDn: fc.oneof(containerText, scalar),
          encryptionTypes: fc.oneof(
            fc.constantFrom('aes', 'des', 'rc4', 'aes256,rc4', '0', '32', 24),
            scalar,
          ),
          adopt: fc.oneof(fc.boolean(), scalar),
          dryRun: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
    },
    {
      // Requests that should succeed, so that the property also covers real writes.
      weight: 1,
      arbitrary: fc.record(
        {
          account: fc.stringMatching(/^CORP\\P[A-Z0-9]{1,6}$/),
          encryptionTypes: fc.constantFrom('aes', 'aes256', 'aes128,aes256', 24),
          adopt: fc.boolean(),
        },
        { requiredKeys: ['account'] },
      ),
    },
    { weight: 1, arbitrary: fc.anything() },
  )
  const operation = fc.constantFrom(
    Op.create,
    Op.create,
    Op.create,
    Op.remove,
    Op.passwordReset,
    Op.show,
    Op.test,
  )
  const knownCodes = new Set(['invalid', 'rule_violation', 'not_found', 'already_exists', 'conflict'])

  it(`never fails with an internal error, and a refusal changes nothing in AD (${RUNS} runs)`, async (t) => {
    let refused = 0
    let created = 0
    await fc.assert(
      fc.asyncProperty(operation, body, async (op, input) => {
        const before = await computerDns(admin, dc.baseDn)
        let outcome: { ok: true; result: unknown } | { ok: false; code: string; message: string }
        try {
          outcome = { ok: true, result: await call(op, input) }
        } catch (err) {
          const e = err as { code: string; message: string }
          outcome = { ok: false, code: e.code, message: e.message }
        }
        const afterDns = await computerDns(admin, dc.baseDn)
        if (!outcome.ok) {
          refused++
          assert.ok(
            knownCodes.has(outcome.code),
            `${op} ${JSON.stringify(input)} -> ${outcome.code}: ${outcome.message}`,
          )
          assert.deepEqual(afterDns, before, `${op} ${JSON.stringify(input)} was refused but changed AD`)
        } else if (op === Op.create && !(input as { dryRun?: boolean }).dryRun) {
          // A create made at most its own object (none when it adopted an existing one).
          assert.ok(afterDns.length - before.length <= 1)
          created += afterDns.length - before.length
        } else if (op !== Op.remove || (input as { dryRun?: boolean }).dryRun) {
          assert.deepEqual(afterDns, before, `${op} ${JSON.stringify(input)} changed AD`)
        }
      }),
      { numRuns: RUNS },
    )
    t.diagnostic(`${refused} refused, ${created} accounts created`)
    assert.ok(created > 0, 'no valid create was drawn: the property never wrote to AD')
    assert.ok(
      refused > RUNS / 2,
      `only ${refused} of ${RUNS} requests were refused: the generator is too tame`,
    )
  })
})
