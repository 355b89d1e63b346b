/**
 * Random passwords for computer accounts. AD sets no policy on computer accounts (lab/NOTES.md),
 * but the password travels inside a quoted UTF-16 unicodePwd value and through keytab tooling, so
 * the alphabet avoids quotes, backslashes and whitespace. Its 84 distinct symbols carry log2(84) ~
 * 6.39 bits each: about 409 bits of entropy at the minimum length of 64, far above the AES256 key size.
 */

export const PASSWORD_ALPHABET =
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_!#%+=.,:;?@^~*()[]{}'
export const MIN_PASSWORD_LENGTH = 64
/** Windows itself uses 120 characters for machine passwords. */
export const DEFAULT_PASSWORD_LENGTH = 120

/**
 * A uniformly random password: bytes above the largest multiple of the alphabet size are rejected
 * so that no character is more likely than another. `randomBytes` is injected to keep this pure
 * (main code passes node:crypto's).
 */
export function generatePassword(
  randomBytes: (size: number) => Uint8Array,
  length: number = DEFAULT_PASSWORD_LENGTH,
): string {
  if (!Number.isInteger(length) || length < MIN_PASSWORD_LENGTH) {
    throw new Error(`password length must be an integer of at least ${MIN_PASSWORD_LENGTH}`)
  }
  const size = PASSWORD_ALPHABET.length
  const limit = 256 - (256 % size)
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= limit) continue
      out += PASSWORD_ALPHABET[byte % size]
      if (out.length === length) break
    }
  }
  return out
}
