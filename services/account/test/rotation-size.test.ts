import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  codec,
  countsOf,
  PasswordRotationStarted,
  type RotationTarget,
  RotationView,
  rotationStartedTargetsListed,
  rotationViewTargetsListed,
} from '@krbfleet/contracts'
import { pack, unpack } from '../src/adapters/nats/rotation-packing.ts'
import { startedTargets } from '../src/rotation/decide.ts'
import { type RotationRecord, viewOf } from '../src/rotation/model.ts'

/**
 * A rotation of a fleet: 10,000 servers over 50 sites (issue 15's goal size). Its record must fit a
 * KV value (NATS's 1 MiB message), its view an RPC answer, its PasswordRotationStarted the events
 * stream's 64 KiB; counts stay exact whatever is listed.
 */
const MiB = 1024 * 1024
const sites = 50
const fleet = (n: number): RotationTarget[] =>
  Array.from({ length: n }, (_, i) => {
    const site = `site-${String((i % sites) + 1).padStart(2, '0')}`
    return {
      server: `fe${String(i + 1).padStart(5, '0')}.${site}.corp.example.com`,
      site,
      pool: `web.${site}.corp.example.com`,
      online: i % 10 !== 0,
      staged: i % 3 === 0,
      applied: i % 3 === 0 && i % 2 === 0,
      ...(i % 997 === 1 ? { failure: 'keytab not writable: EACCES' } : {}),
    }
  })
const record = (targets: RotationTarget[]): RotationRecord => ({
  rotationId: 'rot-20261208T000000-0a1b2c3d',
  account: 'CORP\\KERBFLEET',
  state: 'activating',
  dryRun: false,
  actor: 'token:ops-operator',
  startedAt: '2026-12-08T00:00:00.000Z',
  updatedAt: '2026-12-08T00:00:05.000Z',
  finishedAt: null,
  previousKvno: 4,
  kvno: 5,
  targets,
  stageUntil: '2026-12-08T00:05:00.000Z',
  applyUntil: '2026-12-08T00:10:00.000Z',
})

describe('a rotation of 10,000 servers', () => {
  const targets = fleet(10_000)
  const big = record(targets)

  it('is stored in well under a KV value of 1 MiB and read back as it was', () => {
    const stored = pack(big)
    assert.ok(Buffer.byteLength(stored) < 0.6 * MiB, `${Buffer.byteLength(stored)} bytes`)
    assert.ok(Buffer.byteLength(JSON.stringify(big)) > MiB, 'as objects it would not fit')
    assert.deepEqual(unpack(JSON.parse(stored)), big)
  })

  it('reads a record stored with its targets as objects (before packing), and refuses a malformed packing by name', () => {
    const small = record(fleet(3))
    assert.deepEqual(unpack(JSON.parse(JSON.stringify(small))), small)
    const { targets: _t, ...rest } = small
    assert.throws(
      () => unpack({ ...rest, packedTargets: { pools: [], servers: [['fe1.corp', 0, 1]] } }),
      /rotation record: packedTargets: servers\.0 must be \[server, pool index, flags\]/,
    )
    assert.throws(
      () => unpack({ ...rest, packedTargets: {} }),
      /packedTargets: pools and servers must be lists/,
    )
  })

  it('its view lists 2,000 targets, those not applied first, and counts all of them, per site too', () => {
    const view = viewOf(big)
    codec(RotationView, 'rotation view').decode(view)
    assert.equal(view.targets.length, rotationViewTargetsListed)
    assert.ok(
      view.targets.every((t) => !t.applied),
      'every listed target is one still awaited (there are more than 2,000)',
    )
    assert.ok(Buffer.byteLength(JSON.stringify(view)) < 0.5 * MiB)
    const counts = countsOf(view)
    const applied = targets.filter((t) => t.applied).length
    assert.equal(counts.targets, 10_000)
    assert.equal(counts.applied, applied)
    assert.equal(counts.staged, targets.filter((t) => t.staged || t.applied).length)
    assert.equal(counts.online, targets.filter((t) => t.online).length)
    assert.equal(counts.failed, targets.filter((t) => t.failure && !t.applied).length)
    assert.equal(counts.sites.length, sites)
    assert.deepEqual(counts.sites[0], {
      site: 'site-01',
      targets: 200,
      staged: targets.filter((t) => t.site === 'site-01' && (t.staged || t.applied)).length,
      applied: targets.filter((t) => t.site === 'site-01' && t.applied).length,
      offline: targets.filter((t) => t.site === 'site-01' && !t.online && !t.applied).length,
      failed: targets.filter((t) => t.site === 'site-01' && t.failure && !t.applied).length,
    })
  })

  it('a small rotation lists every target, and an older answer without counts is counted from its targets', () => {
    const small = record(fleet(4))
    const view = viewOf(small)
    assert.deepEqual(view.targets, small.targets)
    const { counts, ...older } = view
    assert.deepEqual(countsOf(older), counts)
  })

  it('its PasswordRotationStarted names the first 1,000 servers by name and counts all, within 64 KiB', () => {
    const started = PasswordRotationStarted.create(
      { rotationId: big.rotationId, account: big.account, ...startedTargets(big) },
      { actor: big.actor },
    )
    assert.equal(started.data.targets.length, rotationStartedTargetsListed)
    assert.equal(started.data.targetCount, 10_000)
    assert.equal(started.data.targets[0], 'fe00001.site-01.corp.example.com')
    assert.ok(Buffer.byteLength(JSON.stringify(started)) < 64 * 1024)
    const few = startedTargets(record(fleet(2)))
    assert.deepEqual(few, {
      targets: ['fe00001.site-01.corp.example.com', 'fe00002.site-02.corp.example.com'],
    })
  })
})
