import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import {
  createKeyCheck,
  decryptAtRest,
  encryptAtRest,
  generateKeyEncryptionKey,
  keyEncryptionKeyFromBytes,
  keyEncryptionKeyId,
  loadKeyEncryptionKey,
  parseKeyEncryptionKey,
  SealingError,
  SealingFailure,
  verifyKeyCheck,
  writeKeyEncryptionKeyFile,
} from '../src/index.ts'

const kek = parseKeyEncryptionKey(generateKeyEncryptionKey(), 'test')
const otherKek = parseKeyEncryptionKey(generateKeyEncryptionKey(), 'test')

async function rejectsWith(run: () => Promise<unknown> | unknown, reason: SealingFailure, message?: RegExp) {
  await assert.rejects(
    async () => run(),
    (err: unknown) => {
      assert.ok(err instanceof SealingError, String(err))
      assert.equal(err.reason, reason, err.message)
      if (message) assert.match(err.message, message)
      return true
    },
  )
}

describe('encryption at rest', () => {
  test('round trip, bound to its record name', () => {
    const stored = encryptAtRest('current password of CORP\\KERBAUTH', kek, 'accounts/CORP.KERBAUTH')
    assert.match(stored, /^kfr1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
    assert.ok(!stored.includes('password'))
    assert.equal(
      decryptAtRest(stored, kek, 'accounts/CORP.KERBAUTH').toString(),
      'current password of CORP\\KERBAUTH',
    )
    assert.notEqual(encryptAtRest('x', kek, 'a'), encryptAtRest('x', kek, 'a')) // random nonce
  })

  test('a wrong KEK, another record name or an altered record fails: wrong_key', async () => {
    const stored = encryptAtRest(randomBytes(40), kek, 'accounts/A')
    await rejectsWith(
      () => decryptAtRest(stored, otherKek, 'accounts/A'),
      SealingFailure.WrongKey,
      /key-encryption key/,
    )
    await rejectsWith(() => decryptAtRest(stored, kek, 'accounts/B'), SealingFailure.WrongKey)
    const [version, nonce, body] = stored.split('.') as [string, string, string]
    const bytes = Buffer.from(body, 'base64url')
    bytes[3]! ^= 1
    await rejectsWith(
      () => decryptAtRest(`${version}.${nonce}.${bytes.toString('base64url')}`, kek, 'accounts/A'),
      SealingFailure.WrongKey,
    )
  })

  test('unknown formats are refused without echoing the value', async () => {
    await rejectsWith(() => decryptAtRest('hunter2-in-clear', kek, 'a'), SealingFailure.UnsupportedVersion)
    await rejectsWith(
      () => decryptAtRest('hunter2-in-clear', kek, 'a'),
      SealingFailure.UnsupportedVersion,
      /^(?!.*hunter2)/,
    )
    await rejectsWith(() => decryptAtRest('kfr1.AAAA', kek, 'a'), SealingFailure.Malformed)
    await rejectsWith(
      () => decryptAtRest('kfr1.AAAAAAAAAAAAAAAA.AAAA', kek, 'a'),
      SealingFailure.Malformed,
      /ciphertext/,
    )
  })

  test('property: random plaintexts and record names round trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.string(), (plaintext, aad) => {
        assert.deepEqual(decryptAtRest(encryptAtRest(plaintext, kek, aad), kek, aad), Buffer.from(plaintext))
      }),
      { numRuns: 200 },
    )
  })

  test('the check value accepts the same key and refuses another', async () => {
    const check = createKeyCheck(kek)
    verifyKeyCheck(kek, check)
    await rejectsWith(
      () => verifyKeyCheck(otherKek, check),
      SealingFailure.WrongKey,
      /is not the one the stored secrets/,
    )
  })

  test('a KEK is a secret KeyObject that does not print; its id is stable and not the key', () => {
    const text = generateKeyEncryptionKey()
    const key = parseKeyEncryptionKey(text, 'test')
    assert.ok(!inspect(key).includes(text))
    assert.equal(keyEncryptionKeyId(key), keyEncryptionKeyId(parseKeyEncryptionKey(text, 'again')))
    assert.notEqual(keyEncryptionKeyId(key), keyEncryptionKeyId(kek))
    assert.equal(
      keyEncryptionKeyId(keyEncryptionKeyFromBytes(Buffer.from(text, 'base64'))),
      keyEncryptionKeyId(key),
    )
  })
})

describe('loadKeyEncryptionKey', () => {
  let dir = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-sealing-'))
  })
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('from the environment, base64 or base64url', async () => {
    const text = generateKeyEncryptionKey()
    const fromEnv = await loadKeyEncryptionKey({ env: { KRBFLEET_KEK: text } })
    assert.equal(keyEncryptionKeyId(fromEnv), keyEncryptionKeyId(parseKeyEncryptionKey(text, 't')))
    const url = Buffer.from(text, 'base64').toString('base64url')
    const fromUrl = await loadKeyEncryptionKey({ env: { OTHER: ` ${url}\n` }, envVar: 'OTHER' })
    assert.equal(keyEncryptionKeyId(fromUrl), keyEncryptionKeyId(fromEnv))
  })

  test('from a 0600 file made by writeKeyEncryptionKeyFile, which never overwrites', async () => {
    const file = join(dir, 'kek')
    await writeKeyEncryptionKeyFile(file)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    const loaded = await loadKeyEncryptionKey({ file, env: {} })
    const check = createKeyCheck(loaded)
    await loadKeyEncryptionKey({ file, check })
    await assert.rejects(writeKeyEncryptionKeyFile(file), /EEXIST/)
  })

  test('missing, malformed, ambiguous, insecure or wrong: a clear error, never the key', async () => {
    const secret = generateKeyEncryptionKey()
    await rejectsWith(() => loadKeyEncryptionKey({ env: {} }), SealingFailure.KeyMissing, /KRBFLEET_KEK/)
    await rejectsWith(() => loadKeyEncryptionKey({ env: { KRBFLEET_KEK: '  ' } }), SealingFailure.KeyMissing)
    await rejectsWith(
      () => loadKeyEncryptionKey({ file: join(dir, 'nope') }),
      SealingFailure.KeyMissing,
      /does not exist/,
    )
    await rejectsWith(
      () => loadKeyEncryptionKey({ env: { KRBFLEET_KEK: secret.slice(0, 20) } }),
      SealingFailure.KeyMalformed,
      /KRBFLEET_KEK: the key-encryption key must be 32 random bytes in base64/,
    )
    await rejectsWith(
      () => loadKeyEncryptionKey({ env: { KRBFLEET_KEK: 'not base64 at all!' } }),
      SealingFailure.KeyMalformed,
    )

    const loose = join(dir, 'loose')
    await writeFile(loose, secret, { mode: 0o600 })
    await chmod(loose, 0o640)
    await rejectsWith(
      () => loadKeyEncryptionKey({ file: loose }),
      SealingFailure.KeyInsecure,
      /mode 0640 .* chmod 600/,
    )
    await rejectsWith(
      () => loadKeyEncryptionKey({ file: loose, env: { KRBFLEET_KEK: secret } }),
      SealingFailure.KeyMalformed,
      /set only one/,
    )

    // A symlink (as Kubernetes mounts secrets) is followed; the target's mode is what counts.
    const link = join(dir, 'link')
    await symlink(loose, link)
    await rejectsWith(() => loadKeyEncryptionKey({ file: link }), SealingFailure.KeyInsecure, /mode 0640/)
    await chmod(loose, 0o400)
    await loadKeyEncryptionKey({ file: link })
    await rejectsWith(
      () => loadKeyEncryptionKey({ file: dir }),
      SealingFailure.KeyMalformed,
      /not a regular file|mode/,
    )

    const check = createKeyCheck(kek)
    await rejectsWith(
      () => loadKeyEncryptionKey({ env: { KRBFLEET_KEK: secret }, check }),
      SealingFailure.WrongKey,
      /is not the one the stored secrets were encrypted with/,
    )

    for (const env of [{ KRBFLEET_KEK: secret.slice(0, 20) }, { KRBFLEET_KEK: secret }]) {
      try {
        await loadKeyEncryptionKey({ env, check })
      } catch (err) {
        assert.ok(!String((err as Error).message).includes(secret.slice(0, 20)))
      }
    }
  })
})
