import { ValidationError } from '@krbfleet/contracts'

/**
 * The unicodePwd value that sets a password: the password in double quotes, encoded UTF-16LE
 * (MS-ADTS 3.1.1.3.1.5.1 "unicodePwd"). The one encoder of the tree: the password reset (a replace)
 * and the add that creates an account with its password both use it. The DC accepts it only on an
 * encrypted connection (Windows; Samba can be configured to accept it in clear, so the caller refuses).
 */
export function encodeUnicodePwd(password: string): Buffer {
  if (typeof password !== 'string' || password.length === 0) {
    throw new ValidationError([{ field: 'password', rule: 'must be a non-empty string' }], 'password')
  }
  if (password.includes('\0')) {
    throw new ValidationError([{ field: 'password', rule: 'must not contain NUL' }], 'password')
  }
  return Buffer.from(`"${password}"`, 'utf16le')
}

/** Attributes whose values are passwords: written only over an encrypted connection. */
export const passwordAttributes: ReadonlySet<string> = new Set([
  'unicodepwd',
  'userpassword',
  'clearpassword',
])
