/**
 * String-to-key for the AES Kerberos encryption types (RFC 3962 section 4) over the simplified
 * profile's key derivation (RFC 3961 section 5.1). Only the two AES-SHA1 types that Active
 * Directory issues are implemented: aes128-cts-hmac-sha1-96 (17) and aes256-cts-hmac-sha1-96 (18).
 */
import { createCipheriv, pbkdf2Sync } from 'node:crypto'
import { ValidationError } from '@krbfleet/contracts'
import { nfold } from './nfold.ts'

/** Kerberos encryption type numbers (IANA "Kerberos Encryption Type Numbers"; RFC 3962 section 7). */
export const EncType = {
  Aes128CtsHmacSha196: 17,
  Aes256CtsHmacSha196: 18,
} as const
export type EncType = (typeof EncType)[keyof typeof EncType]

/** The names MIT tools print and accept (`klist -e`, `ktutil -e`). */
export const encTypeNames: Record<EncType, string> = {
  17: 'aes128-cts-hmac-sha1-96',
  18: 'aes256-cts-hmac-sha1-96',
}

/** Key length in bytes of each supported type (RFC 3962 section 6). */
export const keyLength: Record<EncType, number> = { 17: 16, 18: 32 }

/** RFC 3962 section 4: "the default [iteration count] is 4096" (s2kparams 00 00 10 00). */
export const defaultIterations = 4096

/**
 * The largest count accepted. RFC 3962 allows up to 2^32-1, but a KDC that hands out a huge count
 * would make every derivation take minutes; MIT caps it similarly (16777216).
 */
export const maxIterations = 0x1000000

const AES_BLOCK = 16
const KERBEROS_CONSTANT = Buffer.from('kerberos', 'ascii')

export function isEncType(value: unknown): value is EncType {
  return value === EncType.Aes128CtsHmacSha196 || value === EncType.Aes256CtsHmacSha196
}

/** Checks an encryption type number; `field` names it in the error. */
export function assertEncType(value: unknown, field = 'enctype'): asserts value is EncType {
  if (!isEncType(value)) {
    throw new ValidationError(
      [{ field, rule: 'must be 17 (aes128-cts-hmac-sha1-96) or 18 (aes256-cts-hmac-sha1-96)' }],
      'encryption type',
    )
  }
}

/**
 * Reads the RFC 3962 s2kparams (a 4-byte big-endian iteration count, as found in PA-ETYPE-INFO2).
 * An empty value means the default.
 */
export function parseS2kParams(params: Uint8Array | undefined): number {
  if (params === undefined || params.length === 0) return defaultIterations
  if (params.length !== 4) {
    throw new ValidationError([{ field: 's2kparams', rule: 'must be exactly 4 bytes' }], 's2kparams')
  }
  const iterations = Buffer.from(params.buffer, params.byteOffset, 4).readUInt32BE(0)
  checkIterations(iterations)
  return iterations
}

/**
 * RFC 3962 section 4:
 *   tkey = random2key(PBKDF2(passphrase, salt, iter_count, keylength))
 *   key  = DK(tkey, "kerberos")
 * with PBKDF2 over HMAC-SHA1 and random2key the identity for AES. Strings are encoded as UTF-8,
 * as MIT and Windows do. Returns a fresh Buffer the caller owns (and should zero when done).
 */
export function stringToKey(
  enctype: EncType,
  password: string | Uint8Array,
  salt: string | Uint8Array,
  iterations: number = defaultIterations,
): Buffer {
  assertEncType(enctype)
  checkIterations(iterations)
  const passwordBytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password
  if (passwordBytes.length === 0) {
    throw new ValidationError([{ field: 'password', rule: 'must not be empty' }], 'password')
  }
  const saltBytes = typeof salt === 'string' ? Buffer.from(salt, 'utf8') : salt
  const tkey = pbkdf2Sync(passwordBytes, saltBytes, iterations, keyLength[enctype], 'sha1')
  try {
    return deriveKey(tkey, KERBEROS_CONSTANT)
  } finally {
    tkey.fill(0)
    if (typeof password === 'string') (passwordBytes as Buffer).fill(0)
  }
}

/**
 * DK(Key, Constant) = random-to-key(DR(Key, Constant)) from RFC 3961 section 5.1, for AES
 * (random-to-key is the identity). DR encrypts n-fold(Constant, blocksize) with the basic
 * encryption and feeds each output block back in until enough bits exist. For one block the
 * AES-CTS encryption of RFC 3962 is plain AES, so ECB over a single block is exactly E().
 */
export function deriveKey(baseKey: Uint8Array, constant: Uint8Array): Buffer {
  const length = baseKey.length
  if (length !== 16 && length !== 32) throw new RangeError('AES base key must be 16 or 32 bytes')
  let block = constant.length === AES_BLOCK ? Buffer.from(constant) : nfold(constant, AES_BLOCK)
  // 16 and 32 are whole blocks, so no k-truncate is needed.
  const out = Buffer.alloc(length)
  for (let offset = 0; offset < length; offset += AES_BLOCK) {
    const cipher = createCipheriv(`aes-${length * 8}-ecb`, baseKey, null)
    cipher.setAutoPadding(false)
    const next = Buffer.concat([cipher.update(block), cipher.final()])
    next.copy(out, offset)
    block.fill(0)
    block = next
  }
  block.fill(0)
  return out
}

function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > maxIterations) {
    throw new ValidationError(
      [{ field: 'iterations', rule: `must be an integer from 1 to ${maxIterations}` }],
      'iteration count',
    )
  }
}
