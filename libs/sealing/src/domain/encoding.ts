import { SealingError, SealingFailure } from './errors.ts'

const BASE64URL = /^[A-Za-z0-9_-]*$/

/**
 * Strict base64url: the text must be exactly what encoding the decoded bytes gives back. Node's
 * decoder ignores stray characters and the unused low bits of the last character, so without
 * this check two different texts could carry the same (signed) bytes.
 */
export function decodeBase64Url(
  text: unknown,
  field: string,
  length?: { exact?: number; min?: number },
): Buffer {
  if (typeof text !== 'string' || !BASE64URL.test(text)) {
    throw new SealingError(SealingFailure.Malformed, `${field}: must be a base64url string`, { field })
  }
  const bytes = Buffer.from(text, 'base64url')
  if (bytes.toString('base64url') !== text) {
    throw new SealingError(SealingFailure.Malformed, `${field}: is not canonical base64url`, { field })
  }
  if (length?.exact !== undefined && bytes.length !== length.exact) {
    throw new SealingError(
      SealingFailure.Malformed,
      `${field}: must be ${length.exact} bytes, got ${bytes.length}`,
      {
        field,
      },
    )
  }
  if (length?.min !== undefined && bytes.length < length.min) {
    throw new SealingError(SealingFailure.Malformed, `${field}: must be at least ${length.min} bytes`, {
      field,
    })
  }
  return bytes
}

/** Length-prefixed concatenation: no two different field lists give the same bytes. */
export function framed(parts: readonly Uint8Array[]): Buffer {
  const chunks: Buffer[] = []
  for (const part of parts) {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(part.length, 0)
    chunks.push(length, Buffer.from(part.buffer, part.byteOffset, part.byteLength))
  }
  return Buffer.concat(chunks)
}

export function utf8(value: string): Buffer {
  return Buffer.from(value, 'utf8')
}
