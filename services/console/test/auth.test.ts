import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { KrbfleetError } from '@krbfleet/contracts'
import { hashToken, loadTokensFile, parseTokenRecords, roleAllows, TokenVerifier } from '../src/index.ts'

test('roles are ordered viewer < operator < admin', () => {
  assert.ok(roleAllows('admin', 'viewer'))
  assert.ok(roleAllows('operator', 'operator'))
  assert.ok(!roleAllows('operator', 'admin'))
  assert.ok(!roleAllows('viewer', 'operator'))
})

test('a token is recognised by its sha256 only; anything else is no principal', () => {
  const verifier = new TokenVerifier([
    { name: 'alice', role: 'admin', sha256: hashToken('s3cret') },
    { name: 'bob', role: 'viewer', sha256: hashToken('other') },
  ])
  assert.deepEqual(verifier.verify('Bearer s3cret'), { name: 'alice', role: 'admin', actor: 'token:alice' })
  assert.deepEqual(verifier.verify('bearer other'), { name: 'bob', role: 'viewer', actor: 'token:bob' })
  for (const header of [
    undefined,
    '',
    'Bearer',
    'Bearer ',
    'Basic s3cret',
    's3cret',
    'Bearer s3cret2',
    `Bearer ${hashToken('s3cret')}`,
  ]) {
    assert.equal(verifier.verify(header), undefined, String(header))
  }
})

test('token records: shape and unique names are checked', () => {
  assert.throws(() => parseTokenRecords([{ name: 'a', role: 'root', sha256: hashToken('x') }]), KrbfleetError)
  assert.throws(() => parseTokenRecords([{ name: 'a', role: 'admin', sha256: 'plain-token' }]), /sha256/)
  assert.throws(
    () =>
      parseTokenRecords([
        { name: 'a', role: 'admin', sha256: hashToken('x') },
        { name: 'a', role: 'viewer', sha256: hashToken('y') },
      ]),
    /used twice/,
  )
})

test('tokens file: read and checked; a world-writable one is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'krbfleet-tokens-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'tokens.json')
  await writeFile(file, JSON.stringify([{ name: 'ops', role: 'operator', sha256: hashToken('t') }]), {
    mode: 0o600,
  })
  assert.deepEqual(await loadTokensFile(file), [{ name: 'ops', role: 'operator', sha256: hashToken('t') }])
  await chmod(file, 0o666)
  await assert.rejects(loadTokensFile(file), /world-writable/)
  await assert.rejects(loadTokensFile(join(dir, 'missing.json')), /cannot be read/)
  const bad = join(dir, 'bad.json')
  await writeFile(bad, '[{', { mode: 0o600 })
  await assert.rejects(loadTokensFile(bad), /not JSON/)
})
