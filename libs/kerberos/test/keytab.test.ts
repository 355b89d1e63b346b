import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ValidationError } from '@krbfleet/contracts'
import fc from 'fast-check'
import {
  decodeKeytab,
  dropKvnosBelow,
  encodeKeytab,
  formatPrincipal,
  type KeytabEntry,
  KeytabFormatError,
  kvnosOf,
  mergeKeytabEntries,
  parsePrincipal,
  removeKvno,
  retainNewestKvnos,
  wipeKeytabEntries,
} from '../src/index.ts'

const account = parsePrincipal('KERBAUTH$@CORP.EXAMPLE.COM')
const other = parsePrincipal('HTTP/pool01.corp.example.com@CORP.EXAMPLE.COM', 3)

function entry(kvno: number, enctype = 18, principal = account, fill = kvno): KeytabEntry {
  return {
    principal,
    timestamp: 1_764_000_000,
    kvno,
    enctype,
    key: Buffer.alloc(enctype === 17 ? 16 : 32, fill),
  }
}

describe('keytab encoding (MIT 0x502)', () => {
  test('a written keytab reads back the same, several kvnos per principal', () => {
    const entries = [entry(7), entry(7, 17), entry(6), entry(6, 17), entry(2, 18, other)]
    assert.deepEqual(decodeKeytab(encodeKeytab(entries)), entries)
  })

  test('the bytes follow the documented layout', () => {
    const bytes = encodeKeytab([entry(3)])
    assert.equal(bytes.readUInt16BE(0), 0x0502)
    const size = bytes.readInt32BE(2)
    assert.equal(size, bytes.length - 6)
    // count (1 component, realm excluded), realm, component
    assert.equal(bytes.readUInt16BE(6), 1)
    assert.equal(bytes.readUInt16BE(8), 'CORP.EXAMPLE.COM'.length)
    assert.equal(bytes.subarray(10, 26).toString(), 'CORP.EXAMPLE.COM')
    assert.equal(bytes.readUInt16BE(26), 9)
    assert.equal(bytes.subarray(28, 37).toString(), 'KERBAUTH$')
    assert.equal(bytes.readInt32BE(37), 1) // name type
    assert.equal(bytes.readUInt32BE(41), 1_764_000_000)
    assert.equal(bytes.readUInt8(45), 3) // vno8
    assert.equal(bytes.readUInt16BE(46), 18)
    assert.equal(bytes.readUInt16BE(48), 32)
    assert.equal(bytes.readUInt32BE(50 + 32), 3) // 32-bit kvno, always written like MIT
    assert.equal(bytes.length, 50 + 32 + 4)
  })

  test('kvno above 255 survives through the 32-bit field', () => {
    for (const kvno of [255, 256, 300, 65_536, 0xffffffff]) {
      const bytes = encodeKeytab([entry(kvno)])
      assert.equal(bytes.readUInt8(45), kvno & 0xff)
      assert.equal(decodeKeytab(bytes)[0]?.kvno, kvno)
    }
  })

  test('without the 32-bit field, or with zero in it, the 8-bit kvno counts', () => {
    const full = encodeKeytab([entry(9)])
    const short = Buffer.from(full.subarray(0, full.length - 4))
    short.writeInt32BE(short.length - 6, 2)
    assert.equal(decodeKeytab(short)[0]?.kvno, 9)
    const zero = Buffer.from(full)
    zero.writeUInt32BE(0, zero.length - 4)
    assert.equal(decodeKeytab(zero)[0]?.kvno, 9)
  })

  test('deleted entries (negative size) are skipped, extra trailing fields ignored', () => {
    const first = encodeKeytab([entry(1)])
    const second = encodeKeytab([entry(2)])
    const hole = Buffer.from(first.subarray(2))
    hole.writeInt32BE(-(hole.length - 4), 0)
    // A Heimdal-style record with 4 bytes of flags after the 32-bit kvno.
    const record = second.subarray(6)
    const withFlags = Buffer.concat([Buffer.alloc(4), record, Buffer.from([0, 0, 0, 1])])
    withFlags.writeInt32BE(record.length + 4, 0)
    const file = Buffer.concat([Buffer.from([5, 2]), hole, withFlags])
    assert.deepEqual(decodeKeytab(file), [entry(2)])
  })

  test('a header-only file is an empty keytab; zero padding ends it', () => {
    assert.deepEqual(decodeKeytab(Buffer.from([5, 2])), [])
    const padded = Buffer.concat([encodeKeytab([entry(4)]), Buffer.alloc(16)])
    assert.deepEqual(decodeKeytab(padded), [entry(4)])
  })

  test('a truncated file gives a clear error with the byte offset, at every cut', () => {
    const bytes = encodeKeytab([entry(5), entry(5, 17)])
    for (let cut = 0; cut < bytes.length; cut++) {
      if (cut === 2 || cut === bytes.length) continue
      const firstEnd = 2 + 4 + bytes.readInt32BE(2)
      if (cut === firstEnd) continue // a cut between entries is a valid, shorter keytab
      assert.throws(
        () => decodeKeytab(bytes.subarray(0, cut)),
        (err: unknown) => {
          assert.ok(err instanceof KeytabFormatError, `cut at ${cut}`)
          assert.equal(err.code, 'invalid')
          assert.match(err.message, /^invalid keytab at byte \d+: /)
          assert.match(err.message, /truncated|shorter/)
          return true
        },
      )
    }
  })

  test('a record whose fields overrun its declared size is refused', () => {
    const bytes = encodeKeytab([entry(5)])
    const lying = Buffer.from(bytes)
    lying.writeUInt16BE(200, 48) // key length beyond the record
    assert.throws(() => decodeKeytab(lying), /truncated record: key needs 200 byte\(s\)/)
  })

  test('another version is refused by name', () => {
    assert.throws(() => decodeKeytab(Buffer.from([5, 1, 0, 0])), /unsupported version 0x0501/)
    assert.throws(() => decodeKeytab(Buffer.from([5])), KeytabFormatError)
  })

  test('invalid entries are refused before anything is written, naming each field', () => {
    const bad = { ...entry(1), kvno: -1, key: Buffer.alloc(0) }
    assert.throws(
      () => encodeKeytab([entry(1), bad]),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError)
        assert.deepEqual(
          err.issues.map((i) => i.field),
          ['entries.1.kvno', 'entries.1.key'],
        )
        return true
      },
    )
  })

  test('principals parse and format', () => {
    assert.deepEqual(other, {
      realm: 'CORP.EXAMPLE.COM',
      components: ['HTTP', 'pool01.corp.example.com'],
      nameType: 3,
    })
    assert.equal(formatPrincipal(other), 'HTTP/pool01.corp.example.com@CORP.EXAMPLE.COM')
    for (const text of ['KERBAUTH$', '@REALM', 'a//b@R', 'name@']) {
      assert.throws(() => parsePrincipal(text), ValidationError)
    }
  })
})

describe('several kvnos in one keytab', () => {
  test('merge adds the new kvno beside the old one and replaces an identical entry', () => {
    const old = [entry(6), entry(6, 17)]
    const merged = mergeKeytabEntries(old, [entry(7), entry(7, 17)])
    assert.deepEqual(kvnosOf(merged, account), [7, 6])
    assert.equal(merged[0]?.kvno, 7) // newest first, aes256 first
    assert.equal(merged[0]?.enctype, 18)
    const replaced = mergeKeytabEntries(merged, [entry(7, 18, account, 0xaa)])
    assert.equal(replaced.length, 4)
    assert.equal(replaced.find((e) => e.kvno === 7 && e.enctype === 18)?.key[0], 0xaa)
  })

  test('retain keeps the N newest kvnos of each principal', () => {
    const all = [entry(3), entry(4), entry(5), entry(5, 17), entry(1, 18, other), entry(2, 18, other)]
    const kept = retainNewestKvnos(all, 2)
    assert.deepEqual(kvnosOf(kept, account), [5, 4])
    assert.deepEqual(kvnosOf(kept, other), [2, 1])
    assert.equal(kept.length, 5)
    assert.throws(() => retainNewestKvnos(all, 0), ValidationError)
  })

  test('drop below a kvno and remove one kvno, optionally for one principal', () => {
    const all = [entry(3), entry(4), entry(1, 18, other)]
    assert.deepEqual(kvnosOf(dropKvnosBelow(all, 4), account), [4])
    assert.deepEqual(kvnosOf(dropKvnosBelow(all, 4), other), [])
    assert.deepEqual(kvnosOf(dropKvnosBelow(all, 4, account), other), [1])
    assert.deepEqual(kvnosOf(removeKvno(all, 4, account), account), [3])
  })

  test('wipe zeroes every key', () => {
    const entries = [entry(1), entry(2)]
    wipeKeytabEntries(entries)
    assert.ok(entries.every((e) => e.key.every((b) => b === 0)))
  })
})

describe('property: encode then decode is the identity', () => {
  const text = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' })
  const arbitraryEntry: fc.Arbitrary<KeytabEntry> = fc
    .record({
      principal: fc.record({
        realm: text,
        components: fc.array(text, { minLength: 1, maxLength: 4 }),
        nameType: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
      }),
      timestamp: fc.integer({ min: 0, max: 0xffffffff }),
      kvno: fc.integer({ min: 0, max: 0xffffffff }),
      enctype: fc.integer({ min: 0, max: 0xffff }),
      key: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    })
    // fast-check builds null-prototype records; the decoder builds plain objects.
    .map((e) => ({ ...e, principal: { ...e.principal } }))

  test('for random entries', () => {
    fc.assert(
      fc.property(fc.array(arbitraryEntry, { maxLength: 8 }), (entries) => {
        assert.deepEqual(decodeKeytab(encodeKeytab(entries)), entries)
      }),
      { numRuns: 300 },
    )
  })

  test('random bytes after the header never crash the reader: entries or a KeytabFormatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        try {
          decodeKeytab(Buffer.concat([Buffer.from([5, 2]), tail]))
        } catch (err) {
          assert.ok(err instanceof KeytabFormatError)
        }
      }),
      { numRuns: 500 },
    )
  })
})
