import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  exportPem,
  exportPrivateKey,
  exportPublicKey,
  generateAgentKeyPair,
  generateSignerKeyPair,
  importPrivateKey,
  importPublicKey,
  inspectSealed,
  keyIdOf,
  open,
  type SealedEnvelope,
  SealingError,
  SealingFailure,
  seal,
} from '../src/index.ts'

const signer = generateSignerKeyPair()
const agent = generateAgentKeyPair()
const otherAgent = generateAgentKeyPair()
const credential = {
  account: 'CORP\\KERBAUTH',
  kvno: 7,
  password: 'p@ss w0rd with ünïcode',
  keys: [{ enctype: 18, key: 'AAAA' }],
}

const sealForAgent = (payload: Uint8Array | object = credential, context?: string) =>
  seal(payload, {
    recipientPublicKey: agent.publicKey,
    signer: { privateKey: signer.privateKey, keyId: signer.keyId },
    ...(context === undefined ? {} : { context }),
  })

const openAsAgent = (sealed: unknown, context?: string) =>
  open(sealed, {
    recipientPrivateKey: agent.privateKey,
    signerPublicKey: signer.publicKey,
    ...(context === undefined ? {} : { context }),
  })

function rejects(run: () => unknown, reason: SealingFailure, message?: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof SealingError, `expected a SealingError, got ${String(err)}`)
    assert.equal(err.reason, reason, err.message)
    assert.equal(err.code, 'invalid')
    assert.equal(err.retryable, false)
    if (message) assert.match(err.message, message)
    return true
  })
}

describe('seal and open', () => {
  test('the recipient opens what was sealed to it: objects and bytes', () => {
    const sealed = sealForAgent()
    assert.deepEqual(openAsAgent(sealed), credential)
    assert.deepEqual(openAsAgent(JSON.stringify(sealed)), credential) // the JSON text on the wire
    const bytes = Buffer.from([0, 1, 2, 255])
    assert.deepEqual(openAsAgent(sealForAgent(bytes)), bytes)
  })

  test('the envelope is versioned, JSON-safe and carries no secret in clear', () => {
    const sealed = sealForAgent()
    assert.equal(sealed.v, 'krbfleet-seal/1')
    assert.deepEqual(Object.keys(sealed).sort(), [
      'ciphertext',
      'epk',
      'nonce',
      'recipient',
      'signature',
      'signer',
      'typ',
      'v',
    ])
    const text = JSON.stringify(sealed)
    assert.deepEqual(JSON.parse(text), sealed)
    assert.ok(!text.includes('p@ss'))
    assert.ok(!Buffer.from(sealed.ciphertext, 'base64url').toString('latin1').includes('p@ss'))
    assert.deepEqual(inspectSealed(sealed), { signer: signer.keyId, recipient: agent.keyId })
  })

  test('each sealing is fresh: same payload, different ephemeral key, nonce and ciphertext', () => {
    const a = sealForAgent()
    const b = sealForAgent()
    assert.notEqual(a.epk, b.epk)
    assert.notEqual(a.nonce, b.nonce)
    assert.notEqual(a.ciphertext, b.ciphertext)
  })

  test("another agent's key is rejected: wrong_recipient", () => {
    rejects(
      () =>
        open(sealForAgent(), {
          recipientPrivateKey: otherAgent.privateKey,
          signerPublicKey: signer.publicKey,
        }),
      SealingFailure.WrongRecipient,
      new RegExp(`for agent key ${agent.keyId}, not for this agent's key ${otherAgent.keyId}`),
    )
  })

  test('a wrong signer is rejected: wrong_signer', () => {
    const intruder = generateSignerKeyPair()
    const forged = seal(credential, {
      recipientPublicKey: agent.publicKey,
      signer: { privateKey: intruder.privateKey },
    })
    rejects(() => openAsAgent(forged), SealingFailure.WrongSigner, /not a trusted signer/)
  })

  test('a forger who claims the trusted key id fails the signature: bad_signature', () => {
    const intruder = generateSignerKeyPair()
    const forged = seal(credential, {
      recipientPublicKey: agent.publicKey,
      signer: { privateKey: intruder.privateKey, keyId: signer.keyId },
    })
    rejects(() => openAsAgent(forged), SealingFailure.BadSignature, /does not verify/)
  })

  test('a flipped bit in any byte of any signed field is rejected: bad_signature', () => {
    const sealed = sealForAgent()
    for (const field of ['epk', 'nonce', 'ciphertext', 'signature'] as const) {
      const bytes = Buffer.from(sealed[field], 'base64url')
      for (let i = 0; i < bytes.length; i++) {
        for (const bit of [0x01, 0x80]) {
          const altered = Buffer.from(bytes)
          altered[i]! ^= bit
          rejects(
            () => openAsAgent({ ...sealed, [field]: altered.toString('base64url') }),
            SealingFailure.BadSignature,
          )
        }
      }
    }
  })

  test('altered header fields are rejected with their own reason', () => {
    const sealed = sealForAgent()
    rejects(() => openAsAgent({ ...sealed, recipient: otherAgent.keyId }), SealingFailure.BadSignature)
    rejects(() => openAsAgent({ ...sealed, typ: 'bytes' }), SealingFailure.BadSignature)
    rejects(() => openAsAgent({ ...sealed, signer: 'someone-else' }), SealingFailure.WrongSigner)
    rejects(
      () => openAsAgent({ ...sealed, v: 'krbfleet-seal/2' }),
      SealingFailure.UnsupportedVersion,
      /krbfleet-seal\/2/,
    )
    rejects(() => openAsAgent({ ...sealed, v: undefined }), SealingFailure.UnsupportedVersion)
  })

  test('a flipped byte anywhere in the JSON text never opens', () => {
    const text = JSON.stringify(sealForAgent())
    for (let i = 0; i < text.length; i++) {
      const altered = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 0x01) + text.slice(i + 1)
      assert.throws(() => openAsAgent(altered), SealingError, `position ${i}`)
    }
  })

  test('non-canonical base64url is refused, so one signature cannot cover two texts', () => {
    const sealed = sealForAgent()
    const last = sealed.epk.at(-1)!
    // 32 bytes = 43 characters: the last one carries 2 unused bits that Node would silently drop.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!
    rejects(
      () => openAsAgent({ ...sealed, epk: sealed.epk.slice(0, -1) + sibling }),
      SealingFailure.Malformed,
      /canonical/,
    )
  })

  test('a different context does not decrypt: decryption_failed', () => {
    const sealed = sealForAgent(credential, 'CORP.KERBAUTH/7/web01')
    assert.deepEqual(openAsAgent(sealed, 'CORP.KERBAUTH/7/web01'), credential)
    rejects(() => openAsAgent(sealed, 'CORP.KERBAUTH/7/web02'), SealingFailure.DecryptionFailed)
    rejects(() => openAsAgent(sealed), SealingFailure.DecryptionFailed)
  })

  test('malformed envelopes name the field', () => {
    const sealed = sealForAgent()
    rejects(() => openAsAgent('not json'), SealingFailure.Malformed, /not JSON/)
    rejects(() => openAsAgent([]), SealingFailure.Malformed)
    rejects(() => openAsAgent(null), SealingFailure.Malformed)
    rejects(
      () => openAsAgent({ ...sealed, nonce: 'AAAA' }),
      SealingFailure.Malformed,
      /nonce: must be 12 bytes/,
    )
    rejects(() => openAsAgent({ ...sealed, signature: 42 }), SealingFailure.Malformed, /signature/)
    rejects(() => openAsAgent({ ...sealed, epk: 'a+b/' }), SealingFailure.Malformed, /epk/)
    rejects(() => openAsAgent({ ...sealed, typ: 'xml' }), SealingFailure.Malformed, /typ/)
  })

  test('several trusted signers during a signer key change', () => {
    const next = generateSignerKeyPair()
    const sealed = seal(credential, {
      recipientPublicKey: agent.publicKey,
      signer: { privateKey: next.privateKey },
    })
    const opened = open(sealed, {
      recipientPrivateKey: agent.privateKey,
      signerPublicKey: [{ publicKey: signer.publicKey }, { publicKey: exportPublicKey(next.publicKey) }],
    })
    assert.deepEqual(opened, credential)
  })
})

describe('keys', () => {
  test('export and import as base64url raw and PEM give the same keys', () => {
    const raw = exportPublicKey(agent.publicKey)
    assert.equal(Buffer.from(raw, 'base64url').length, 32)
    assert.equal(keyIdOf(importPublicKey(raw, 'x25519')), agent.keyId)
    assert.equal(keyIdOf(importPublicKey(exportPem(agent.publicKey), 'x25519')), agent.keyId)
    assert.equal(keyIdOf(importPrivateKey(exportPrivateKey(agent.privateKey), 'x25519')), agent.keyId)
    assert.match(exportPem(agent.privateKey), /^-----BEGIN PRIVATE KEY-----/)
    assert.equal(keyIdOf(importPrivateKey(exportPem(signer.privateKey), 'ed25519')), signer.keyId)

    // Seal with text keys, open with text keys.
    const sealed = seal(credential, {
      recipientPublicKey: raw,
      signer: { privateKey: exportPem(signer.privateKey) },
    })
    assert.deepEqual(
      open(sealed, {
        recipientPrivateKey: exportPrivateKey(agent.privateKey),
        signerPublicKey: exportPublicKey(signer.publicKey),
      }),
      credential,
    )
  })

  test('a key of the wrong kind or length is refused naming the field', () => {
    rejects(
      () => importPublicKey(exportPublicKey(signer.publicKey).slice(0, 20), 'x25519'),
      SealingFailure.Malformed,
    )
    rejects(
      () =>
        seal(credential, { recipientPublicKey: signer.publicKey, signer: { privateKey: signer.privateKey } }),
      SealingFailure.Malformed,
      /recipientPublicKey: must be an X25519 public key/,
    )
    rejects(
      () =>
        seal(credential, { recipientPublicKey: agent.publicKey, signer: { privateKey: agent.privateKey } }),
      SealingFailure.Malformed,
      /signer.privateKey: must be an Ed25519 private key/,
    )
  })

  test('private keys do not print', () => {
    const printed = inspect(agent) + inspect(signer)
    assert.ok(!printed.includes(exportPrivateKey(agent.privateKey)))
    assert.ok(!printed.includes(exportPrivateKey(signer.privateKey)))
  })
})

describe('property: random payloads', () => {
  test('bytes and JSON objects round trip, and only for the recipient', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b) as Uint8Array | object),
          fc.dictionary(fc.string(), fc.jsonValue()).map((o) => JSON.parse(JSON.stringify(o)) as object),
        ),
        fc.string({ maxLength: 40 }),
        (payload, context) => {
          const sealed: SealedEnvelope = sealForAgent(payload, context)
          assert.deepEqual(openAsAgent(sealed, context), payload)
          rejects(
            () =>
              open(sealed, {
                recipientPrivateKey: otherAgent.privateKey,
                signerPublicKey: signer.publicKey,
                context,
              }),
            SealingFailure.WrongRecipient,
          )
        },
      ),
      { numRuns: 150 },
    )
  })
})
