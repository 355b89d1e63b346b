/**
 * n-fold from RFC 3961 section 5.1: stretches or shrinks a constant to the block size before it is
 * used as the input of key derivation. Written with BigInt so it reads like the RFC's definition
 * rather than like a bit-twiddling optimisation; it only ever runs over a few dozen bytes.
 */

/**
 * Folds `input` to `outputBytes` bytes: replicate the input until the length is the least common
 * multiple of both sizes, each copy rotated 13 bits to the right of the previous one, then add
 * the output-sized chunks with one's-complement addition (end-around carry). RFC 3961 5.1, A.1.
 */
export function nfold(input: Uint8Array, outputBytes: number): Buffer {
  if (input.length === 0) throw new RangeError('n-fold input must not be empty')
  if (!Number.isInteger(outputBytes) || outputBytes <= 0)
    throw new RangeError('n-fold output size must be positive')
  const inputBits = input.length * 8
  const outputBits = BigInt(outputBytes * 8)
  const total = lcm(input.length, outputBytes)
  const copies = total / input.length

  const value = toBigInt(input)
  const inBits = BigInt(inputBits)
  const inMask = (1n << inBits) - 1n
  let stretched = 0n
  for (let k = 0; k < copies; k++) {
    const shift = BigInt((13 * k) % inputBits)
    const rotated = shift === 0n ? value : ((value >> shift) | (value << (inBits - shift))) & inMask
    stretched = (stretched << inBits) | rotated
  }

  const outMask = (1n << outputBits) - 1n
  let sum = 0n
  for (let chunk = 0; chunk < total / outputBytes; chunk++) {
    sum += (stretched >> (outputBits * BigInt(chunk))) & outMask
  }
  // One's-complement addition: carries out of the top wrap around to the bottom.
  while (sum > outMask) sum = (sum & outMask) + (sum >> outputBits)
  return fromBigInt(sum, outputBytes)
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b]
  return a
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b
}

function toBigInt(bytes: Uint8Array): bigint {
  let value = 0n
  for (const byte of bytes) value = (value << 8n) | BigInt(byte)
  return value
}

function fromBigInt(value: bigint, length: number): Buffer {
  const out = Buffer.alloc(length)
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn)
    value >>= 8n
  }
  return out
}
