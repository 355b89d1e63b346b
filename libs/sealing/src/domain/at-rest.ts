/**
 * Secrets kept at rest (the current password of an account, a saga step) encrypted with a
 * key-encryption key (KEK): AES-256-GCM with a random 96-bit nonce (NIST SP 800-38D) and
 * associated data that names the record, so a ciphertext copied to another record's key does
 * not decrypt there. The stored form is one string: `kfr1.<nonce>.<ciphertext+tag>` (base64url).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto'
import { decodeBase64Url, framed, utf8 } from './encoding.ts'
import { SealingError, SealingFailure } from './errors.ts'

export const AT_REST_VERSION = 'kfr1'
const NONCE_BYTES = 12
const TAG_BYTES = 16
export const KEK_BYTES = 32

/** Text of a new key-encryption key: 32 random bytes in base64. For the lab and `krbfleet` CLI. */
export function generateKeyEncryptionKey(): string {
  const bytes = randomBytes(KEK_BYTES)
  try {
    return bytes.toString('base64')
  } finally {
    bytes.fill(0)
  }
}

/**
 * Parses the text of a KEK (base64 or base64url of exactly 32 bytes, surrounding white space
 * ignored) into a secret KeyObject, which never prints its bytes. `source` names where it came
 * from in the error (an env var or a file), never the value.
 */
export function parseKeyEncryptionKey(text: string, source: string): KeyObject {
  const trimmed = text.trim()
  const bytes = /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0)
  try {
    if (bytes.length !== KEK_BYTES) {
      throw new SealingError(
        SealingFailure.KeyMalformed,
        `${source}: the key-encryption key must be ${KEK_BYTES} random bytes in base64 (make one with generateKeyEncryptionKey())`,
        { field: source },
      )
    }
    return createSecretKey(bytes)
  } finally {
    bytes.fill(0)
  }
}

/** A KeyObject from 32 raw bytes (tests, or keys from a secret store). */
export function keyEncryptionKeyFromBytes(bytes: Uint8Array): KeyObject {
  if (bytes.length !== KEK_BYTES) {
    throw new SealingError(SealingFailure.KeyMalformed, `key-encryption key: must be ${KEK_BYTES} bytes`, {
      field: 'kek',
    })
  }
  return createSecretKey(bytes)
}

/** A short, non-secret fingerprint of a KEK, safe to log (HMAC of a fixed label under the key). */
export function keyEncryptionKeyId(kek: KeyObject): string {
  checkKek(kek)
  return createHmac('sha256', kek)
    .update('krbfleet key-encryption key id')
    .digest()
    .subarray(0, 8)
    .toString('hex')
}

/**
 * Encrypts `plaintext` for storage. `aad` names the record (e.g. `accounts/CORP.KERBAUTH/current`)
 * and must be given again to decrypt.
 */
export function encryptAtRest(
  plaintext: Uint8Array | string,
  kek: KeyObject,
  aad: string | Uint8Array,
): string {
  checkKek(kek)
  const nonce = randomBytes(NONCE_BYTES)
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_BYTES })
  cipher.setAAD(associatedData(aad))
  const ciphertext = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()])
  if (typeof plaintext === 'string') (data as Buffer).fill(0)
  return `${AT_REST_VERSION}.${nonce.toString('base64url')}.${ciphertext.toString('base64url')}`
}

/** Decrypts what `encryptAtRest` stored. The caller owns (and should zero) the returned Buffer. */
export function decryptAtRest(stored: string, kek: KeyObject, aad: string | Uint8Array): Buffer {
  checkKek(kek)
  if (typeof stored !== 'string') {
    throw new SealingError(SealingFailure.Malformed, 'encrypted record: must be a string')
  }
  const parts = stored.split('.')
  if (parts[0] !== AT_REST_VERSION) {
    throw new SealingError(
      SealingFailure.UnsupportedVersion,
      // The value is not echoed: a record in an unknown format might be a secret stored in clear.
      `encrypted record: unknown format (expected a ${AT_REST_VERSION}.<nonce>.<ciphertext> string)`,
    )
  }
  if (parts.length !== 3) {
    throw new SealingError(SealingFailure.Malformed, 'encrypted record: must be kfr1.<nonce>.<ciphertext>')
  }
  const nonce = decodeBase64Url(parts[1], 'nonce', { exact: NONCE_BYTES })
  const ciphertext = decodeBase64Url(parts[2], 'ciphertext', { min: TAG_BYTES })
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(associatedData(aad))
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES))
    return Buffer.concat([
      decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES)),
      decipher.final(),
    ])
  } catch (cause) {
    throw new SealingError(
      SealingFailure.WrongKey,
      'encrypted record: does not decrypt: the key-encryption key is not the one it was stored with, or the record was altered or moved',
      { cause },
    )
  }
}

const CHECK_AAD = 'krbfleet key-encryption key check'
const CHECK_PLAINTEXT = 'krbfleet: this key-encryption key is the right one'

/**
 * A check value to store beside the encrypted data when a KEK is first used. At start-up
 * `verifyKeyCheck` proves the configured KEK is that same key before anything is decrypted,
 * so a wrong KEK stops the service with a clear message instead of failing record by record.
 */
export function createKeyCheck(kek: KeyObject): string {
  return encryptAtRest(CHECK_PLAINTEXT, kek, CHECK_AAD)
}

export function verifyKeyCheck(kek: KeyObject, check: string): void {
  let plaintext: Buffer
  try {
    plaintext = decryptAtRest(check, kek, CHECK_AAD)
  } catch (cause) {
    throw new SealingError(
      SealingFailure.WrongKey,
      `the key-encryption key (id ${keyEncryptionKeyId(kek)}) is not the one the stored secrets were encrypted with`,
      { cause },
    )
  }
  if (plaintext.toString('utf8') !== CHECK_PLAINTEXT) {
    throw new SealingError(
      SealingFailure.WrongKey,
      'the key-encryption key check value is not a krbfleet check value',
    )
  }
}

function associatedData(aad: string | Uint8Array): Buffer {
  return framed([utf8(AT_REST_VERSION), typeof aad === 'string' ? utf8(aad) : aad])
}

function checkKek(kek: KeyObject): void {
  if (!kek || typeof kek !== 'object' || kek.type !== 'secret' || kek.symmetricKeySize !== KEK_BYTES) {
    throw new SealingError(
      SealingFailure.KeyMalformed,
      `key-encryption key: must be a ${KEK_BYTES}-byte secret KeyObject`,
      {
        field: 'kek',
      },
    )
  }
}
