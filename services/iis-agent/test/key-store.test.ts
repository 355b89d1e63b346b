import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { exportPrivateKey, importPrivateKey } from '@krbfleet/sealing'
import { AgentKeyFileError, loadOrCreateAgentKey } from '../src/index.ts'

// The key store against a temporary folder (files only, no servers).
describe('agent key store', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krbfleet-keystore-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('given no file, then a key pair is created 0600 in a 0700 folder and read back the same', async () => {
    const path = join(dir, 'a', 'b', 'agent-key.pem')
    const first = await loadOrCreateAgentKey(path)
    assert.equal(first.created, true)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'a', 'b'))).mode & 0o777, 0o700)
    const again = await loadOrCreateAgentKey(path)
    assert.equal(again.created, false)
    assert.equal(again.encryptionKey, first.encryptionKey)
    assert.equal(again.keyId, first.keyId)
    assert.match(first.encryptionKey, /^[A-Za-z0-9_-]{43}$/)
  })

  it('given many starts at once, then they all end with the one key on disk', async () => {
    const path = join(dir, 'race', 'agent-key.pem')
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateAgentKey(path)))
    assert.equal(new Set(keys.map((k) => k.encryptionKey)).size, 1)
    assert.equal(keys.filter((k) => k.created).length, 1)
    const pem = await readFile(path, 'utf8')
    const [one] = keys
    assert.ok(one)
    assert.equal(exportPrivateKey(importPrivateKey(pem, 'x25519')), exportPrivateKey(one.privateKey))
  })

  for (const mode of [0o640, 0o604, 0o660, 0o644]) {
    it(`given a key file with mode ${mode.toString(8)}, then it is refused naming the setting`, async () => {
      const path = join(dir, `open-${mode.toString(8)}.pem`)
      await loadOrCreateAgentKey(path)
      await chmod(path, mode)
      await assert.rejects(
        loadOrCreateAgentKey(path, { setting: 'KRBFLEET_AGENT_KEY_FILE' }),
        (err: unknown) => {
          assert.ok(err instanceof AgentKeyFileError)
          assert.equal(err.field, 'KRBFLEET_AGENT_KEY_FILE')
          assert.match(err.message, new RegExp(`^KRBFLEET_AGENT_KEY_FILE: .* has mode ${mode.toString(8)}`))
          return true
        },
      )
    })
  }

  it('given a file that is not a key, then it is refused without quoting its content', async () => {
    const path = join(dir, 'garbage.pem')
    await writeFile(path, 'not-a-key-but-maybe-a-secret', { mode: 0o600 })
    await assert.rejects(loadOrCreateAgentKey(path), (err: unknown) => {
      assert.ok(err instanceof AgentKeyFileError)
      assert.match(err.message, /does not hold an X25519 private key/)
      assert.doesNotMatch(err.message, /maybe-a-secret/)
      return true
    })
  })

  it('given a symbolic link, then it is refused', async () => {
    const target = join(dir, 'target.pem')
    await loadOrCreateAgentKey(target)
    const link = join(dir, 'link.pem')
    await symlink(target, link)
    await assert.rejects(loadOrCreateAgentKey(link), /symbolic link/)
  })
})
