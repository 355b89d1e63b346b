import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { applyDiff, diff, isEmptyDiff, SpnSet } from '../src/domain/index.ts'

// A small name space so that desired, actual and managed overlap often, in random letter case (AD
// compares SPNs case-insensitively).
const host = fc.constantFrom('pool01.corp', 'pool02.corp', 'web.example.com', 'lb1.corp', 'intranet', 'meet')
const serviceClass = fc.constantFrom('HTTP', 'HOST', 'MSSQLSvc')
const randomCase = (s: string) =>
  fc
    .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
    .map((upper) => [...s].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''))
const spn = fc.tuple(serviceClass, host).chain(([c, h]) => randomCase(`${c}/${h}`))
const spns = fc.array(spn, { maxLength: 12 })

const keys = (values: Iterable<string>) => new SpnSet(values)

describe('diff', () => {
  it('given a desired SPN missing from AD, then it is added', () => {
    const d = diff({ desired: ['HTTP/a'], actual: [], managed: [] })
    assert.deepEqual(d, { add: ['HTTP/a'], remove: [], keepForeign: [] })
  })

  it('given a managed SPN no longer desired, then it is removed in the spelling AD stores', () => {
    const d = diff({ desired: [], actual: ['http/A'], managed: ['HTTP/a'] })
    assert.deepEqual(d, { add: [], remove: ['http/A'], keepForeign: [] })
  })

  it('given a hand-added SPN, then it is kept even when not desired', () => {
    const d = diff({ desired: ['HTTP/a'], actual: ['HTTP/a', 'HTTP/manual'], managed: ['HTTP/a'] })
    assert.deepEqual(d, { add: [], remove: [], keepForeign: ['HTTP/manual'] })
  })

  it('given a desired SPN already present in another case, then nothing is written', () => {
    const d = diff({
      desired: ['HTTP/pool01.corp'],
      actual: ['http/POOL01.corp'],
      managed: ['HTTP/pool01.corp'],
    })
    assert.ok(isEmptyDiff(d))
  })

  it('property: applying the diff gives desired ∪ (actual − managed)', () => {
    fc.assert(
      fc.property(spns, spns, spns, (desired, actual, managed) => {
        const d = diff({ desired, actual, managed })
        const after = applyDiff(actual, d)
        const expected = keys(desired).union(keys(actual).minus(managed))
        assert.ok(after.equals(expected), `${after.sorted()} != ${expected.sorted()}`)
      }),
    )
  })

  it('property: it never touches an SPN it does not manage and never removes a desired one', () => {
    fc.assert(
      fc.property(spns, spns, spns, (desired, actual, managed) => {
        const d = diff({ desired, actual, managed })
        for (const r of d.remove) {
          assert.ok(keys(managed).has(r), `removed ${r} is not managed`)
          assert.ok(!keys(desired).has(r), `removed ${r} is desired`)
          assert.ok(actual.includes(r), `removed ${r} is not spelled as AD stores it`)
        }
        for (const a of d.add) {
          assert.ok(keys(desired).has(a))
          assert.ok(!keys(actual).has(a), `added ${a} is already present`)
        }
        const after = applyDiff(actual, d)
        for (const foreign of keys(actual).minus(managed))
          assert.ok(after.has(foreign), `foreign ${foreign} lost`)
        assert.ok(keys(d.keepForeign).equals(keys(actual).minus(managed)))
      }),
    )
  })

  it('property: reconciling twice writes nothing the second time', () => {
    fc.assert(
      fc.property(spns, spns, spns, (desired, actual, managed) => {
        const first = diff({ desired, actual, managed })
        const after = applyDiff(actual, first)
        const second = diff({ desired, actual: after, managed: keys(managed).union(first.add) })
        assert.deepEqual({ add: second.add, remove: second.remove }, { add: [], remove: [] })
      }),
    )
  })
})
