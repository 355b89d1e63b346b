import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'

/** Why a sealed credential or an encrypted record was refused: stable, for callers and tests. */
export const SealingFailure = {
  /** Not a sealed envelope / encrypted record at all: missing field, bad base64url, wrong length. */
  Malformed: 'malformed',
  UnsupportedVersion: 'unsupported_version',
  /** Sealed by a signer key that is not among the trusted ones. */
  WrongSigner: 'wrong_signer',
  /** The signature does not verify under the trusted key: the envelope was altered after signing. */
  BadSignature: 'bad_signature',
  /** Sealed to another agent's public key. */
  WrongRecipient: 'wrong_recipient',
  /** Authentic, addressed to this key, but it does not decrypt (wrong context or wrong private key). */
  DecryptionFailed: 'decryption_failed',
  /** The key-encryption key is not the one the stored data was encrypted with. */
  WrongKey: 'wrong_key',
  /** No key-encryption key configured. */
  KeyMissing: 'key_missing',
  /** The key-encryption key is not 32 bytes of base64. */
  KeyMalformed: 'key_malformed',
  /** The key-encryption key file can be read by other users. */
  KeyInsecure: 'key_insecure',
} as const
export type SealingFailure = (typeof SealingFailure)[keyof typeof SealingFailure]

/**
 * Every refusal of this library. `code` is always `invalid` (never retryable: the same bytes or
 * the same key will fail again); `reason` says which rule failed. Messages never carry key material.
 */
export class SealingError extends KrbfleetError {
  readonly reason: SealingFailure
  constructor(reason: SealingFailure, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(ErrorCode.Invalid, message, {
      retryable: false,
      details: { reason },
      ...(options.field === undefined ? {} : { field: options.field }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    })
    this.name = 'SealingError'
    this.reason = reason
  }
}
