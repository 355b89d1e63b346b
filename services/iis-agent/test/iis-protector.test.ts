import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { keyEncryptionKeyFromBytes } from '@krbfleet/sealing'
import {
  loadOrCreateLocalKey,
  localKeyProtector,
  parseProtected,
} from '../src/adapters/iis/password-protector.ts'

// The Linux stand-in protector (KrbfleetLocalProvider) and its 0600 key file.
describe('iis password protector', () => {
  const key = () => keyEncryptionKeyFromBytes(randomBytes(32))

  it('round-trips, in the IIS protected-value form, with a new ciphertext each time', async () => {
    const protector = localKeyProtector(key())
    const a = await protector.protect('Pw:with[odd]chars')
    const b = await protector.protect('Pw:with[odd]chars')
    assert.match(a, /^\[enc:KrbfleetLocalProvider:kfr1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+:enc\]$/)
    assert.notEqual(a, b)
    assert.equal(a.includes('odd'), false)
    assert.equal(await protector.unprotect(a), 'Pw:with[odd]chars')
    assert.deepEqual(parseProtected(a)?.provider, 'KrbfleetLocalProvider')
  })

  it('leaves values of other providers alone and refuses another key or an altered value', async () => {
    const protector = localKeyProtector(key())
    assert.equal(await protector.unprotect('[enc:IISWASOnlyCngProvider:AAAA:enc]'), undefined)
    assert.equal(await protector.unprotect('clear text'), undefined)
    const value = await localKeyProtector(key()).protect('pw')
    await assert.rejects(protector.unprotect(value), /does not decrypt/)
    const own = await protector.protect('pw')
    // One character of the authentication tag changed (the value ends with `<tag>:enc]`).
    const altered = `${own.slice(0, -10)}${own.at(-10) === 'A' ? 'B' : 'A'}${own.slice(-9)}`
    await assert.rejects(protector.unprotect(altered), /does not decrypt/)
  })

  it('creates the local key 0600 in a 0700 folder, reuses it, and refuses it once others can read it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'krbfleet-iis-key-'))
    try {
      const path = join(dir, 'state', 'iis-local.key')
      const first = localKeyProtector(await loadOrCreateLocalKey(path))
      assert.equal((await stat(path)).mode & 0o777, 0o600)
      assert.equal((await stat(join(dir, 'state'))).mode & 0o777, 0o700)
      const text = await readFile(path, 'utf8')
      const again = localKeyProtector(await loadOrCreateLocalKey(path))
      assert.equal(await again.unprotect(await first.protect('pw')), 'pw')
      assert.equal(await readFile(path, 'utf8'), text)
      await chmod(path, 0o644)
      await assert.rejects(loadOrCreateLocalKey(path), /chmod 600/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
