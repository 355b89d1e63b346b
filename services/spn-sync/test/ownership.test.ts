import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  applyDiff,
  diff,
  emptyOwnership,
  managedSpns,
  newConflicts,
  ownedAfter,
  ownedAfterPending,
  ownershipRecordCodec,
  outcomeOfPending,
  SpnSet,
} from '../src/domain/index.ts'

describe('ownership record', () => {
  it('given an interrupted write, then its additions count as managed', () => {
    const record = {
      ...emptyOwnership('CORP\\KA'),
      spns: ['HTTP/a'],
      pending: {
        id: 'w1',
        add: ['HTTP/b'],
        remove: ['HTTP/a'],
        revision: 2,
        startedAt: new Date().toISOString(),
      },
    }
    assert.ok(ownershipRecordCodec.check(record))
    assert.deepEqual(managedSpns(record).sorted(), ['HTTP/a', 'HTTP/b'])
  })

  it('given the modify reached AD before the crash, then the outcome reports it; otherwise nothing', () => {
    const pending = {
      id: 'w1',
      add: ['HTTP/b'],
      remove: ['HTTP/a'],
      revision: 2,
      startedAt: new Date().toISOString(),
    }
    assert.deepEqual(outcomeOfPending(pending, ['http/B']), { added: ['HTTP/b'], removed: ['HTTP/a'] })
    assert.deepEqual(outcomeOfPending(pending, ['HTTP/a']), { added: [], removed: [] })
  })

  it('given a pending write still in flight elsewhere, then its desired additions stay owned', () => {
    const record = {
      ...emptyOwnership('CORP\\KA'),
      spns: ['HTTP/kept', 'HTTP/gone'],
      pending: {
        id: 'w1',
        add: ['HTTP/new', 'HTTP/undesired'],
        remove: [],
        revision: 2,
        startedAt: new Date().toISOString(),
      },
    }
    // AD read before the other writer's modify landed: none of its additions are visible yet.
    assert.deepEqual(ownedAfterPending(record, ['HTTP/kept'], ['HTTP/kept', 'HTTP/new']), [
      'HTTP/kept',
      'HTTP/new',
    ])
  })

  it('a record that is not one is refused naming the field', () => {
    assert.throws(() => ownershipRecordCodec.decode({ account: 'CORP\\KA', spns: 'x' }), /spns/)
  })

  it('conflicts are new only once per SPN and holder, whatever the case', () => {
    const before = [{ spn: 'HTTP/a', holder: 'CN=X,DC=corp' }]
    assert.deepEqual(newConflicts(before, [{ spn: 'http/A', holder: 'cn=x,dc=corp' }]), [])
    assert.deepEqual(newConflicts(before, [{ spn: 'HTTP/b', holder: 'CN=X,DC=corp' }]), [
      { spn: 'HTTP/b', holder: 'CN=X,DC=corp' },
    ])
  })

  it('property: a crash after the intent, before or after the modify, converges on the next run', () => {
    const spn = fc.constantFrom('HTTP/a', 'HTTP/b', 'http/C', 'HTTP/d', 'HTTP/e')
    const spns = fc.array(spn, { maxLength: 5 })
    fc.assert(
      fc.property(spns, spns, spns, fc.boolean(), (desired, actual, owned, modifyHappened) => {
        // Run 1 records the intent, maybe writes AD, then dies before confirming.
        const managed1 = new SpnSet(owned)
        const first = diff({ desired, actual, managed: managed1 })
        const record = {
          ...emptyOwnership('CORP\\KA'),
          spns: managed1.sorted(),
          pending: {
            id: 'w',
            add: first.add,
            remove: first.remove,
            revision: 1,
            startedAt: new Date().toISOString(),
          },
        }
        const adNow = modifyHappened ? applyDiff(actual, first) : new SpnSet(actual)
        // Run 2 starts from the record and AD as they are.
        const managed2 = managedSpns(record)
        const second = diff({ desired, actual: adNow, managed: managed2 })
        const adAfter = applyDiff(adNow, second)
        const foreign = new SpnSet(actual).minus(owned)
        assert.ok(adAfter.equals(new SpnSet(desired).union(foreign)))
        // What krbfleet owns afterwards never includes a foreign SPN that is not desired.
        const ownedNow = new SpnSet(ownedAfter(managed2.union(second.add), adAfter))
        for (const f of foreign.minus(desired)) assert.ok(!ownedNow.has(f))
      }),
    )
  })
})
