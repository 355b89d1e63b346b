/**
 * Agent keys (X25519, RFC 7748) and signer keys (Ed25519, RFC 8032) as node:crypto KeyObjects.
 * A KeyObject never prints its key material (`util.inspect` shows only the type), which keeps
 * private keys out of logs by construction. Raw keys travel as base64url of their 32 bytes, the
 * form of the JWK "x"/"d" members (RFC 8037); PEM (SPKI / PKCS#8) is offered for files.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto'
import { decodeBase64Url } from './encoding.ts'
import { SealingError, SealingFailure } from './errors.ts'

export type KeyKind = 'x25519' | 'ed25519'

/** A key as a KeyObject, PEM text, base64url of the raw 32 bytes, or the raw bytes. */
export type KeyInput = KeyObject | string | Uint8Array

export interface AgentKeyPair {
  publicKey: KeyObject
  privateKey: KeyObject
  /** Fingerprint of the public key; names the recipient inside a sealed envelope. */
  keyId: string
}

export interface SignerKeyPair {
  publicKey: KeyObject
  privateKey: KeyObject
  keyId: string
}

const curve: Record<KeyKind, 'X25519' | 'Ed25519'> = { x25519: 'X25519', ed25519: 'Ed25519' }

// DER prefixes of a PKCS#8 private key and an SPKI public key for the two curves (RFC 8410):
// the raw 32 bytes follow. OIDs 1.3.101.110 (X25519) and 1.3.101.112 (Ed25519).
const pkcs8Prefix: Record<KeyKind, Buffer> = {
  x25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
}
const spkiPrefix: Record<KeyKind, Buffer> = {
  x25519: Buffer.from('302a300506032b656e032100', 'hex'),
  ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
}

export function generateAgentKeyPair(): AgentKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519')
  return { publicKey, privateKey, keyId: keyIdOf(publicKey) }
}

export function generateSignerKeyPair(): SignerKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  return { publicKey, privateKey, keyId: keyIdOf(publicKey) }
}

/** Raw public bytes by key: an agent's own key pair and the signers' keys are asked for at every seal and open. */
const rawOf = new WeakMap<KeyObject, Buffer>()

/** The 32 raw bytes of a public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  let raw = rawOf.get(key)
  if (!raw) {
    const publicKey = key.type === 'private' ? createPublicKey(key) : key
    const { x } = publicKey.export({ format: 'jwk' })
    raw = Buffer.from(x ?? '', 'base64url')
    rawOf.set(key, raw)
  }
  return Buffer.from(raw)
}

/** base64url of the raw public key: what an agent sends when it enrols. */
export function exportPublicKey(key: KeyObject): string {
  return rawPublicKey(key).toString('base64url')
}

/** base64url of the raw private key. A secret: write it only to a 0600 file. */
export function exportPrivateKey(key: KeyObject): string {
  if (key.type !== 'private') throw new TypeError('exportPrivateKey needs a private key')
  const { d } = key.export({ format: 'jwk' })
  return d ?? ''
}

/** PEM: SPKI for a public key, PKCS#8 for a private key. */
export function exportPem(key: KeyObject): string {
  return key.type === 'private'
    ? String(key.export({ format: 'pem', type: 'pkcs8' }))
    : String(key.export({ format: 'pem', type: 'spki' }))
}

/**
 * A stable, non-secret name of a public key: base64url of the first 16 bytes of SHA-256 over the
 * raw key. Accepts a private key too (its public half is used).
 */
export function keyIdOf(key: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(key)).digest().subarray(0, 16).toString('base64url')
}

/**
 * Public keys given as text, imported before: an import costs ~40 us, and the account service
 * imports every enrolled agent's key at each credential run (and an agent its signer's at each
 * open). Bounded; the oldest goes first.
 */
const imported = new Map<string, KeyObject>()
const importedMax = 65_536

export function importPublicKey(input: KeyInput, kind: KeyKind, field = 'publicKey'): KeyObject {
  if (typeof input === 'string') {
    const memo = `${kind} ${input}`
    const known = imported.get(memo)
    if (known) return known
    const key = importPublicKeyOnce(input, kind, field)
    if (imported.size >= importedMax) imported.delete(imported.keys().next().value as string)
    imported.set(memo, key)
    return key
  }
  return importPublicKeyOnce(input, kind, field)
}

function importPublicKeyOnce(input: KeyInput, kind: KeyKind, field: string): KeyObject {
  let key: KeyObject
  try {
    if (typeof input === 'string' && input.includes('-----BEGIN')) {
      key = createPublicKey(input)
    } else if (typeof input === 'string' || input instanceof Uint8Array) {
      const raw = typeof input === 'string' ? decodeBase64Url(input.trim(), field, { exact: 32 }) : input
      if (raw.length !== 32) throw new Error('not 32 bytes')
      key = createPublicKey({ key: Buffer.concat([spkiPrefix[kind], raw]), format: 'der', type: 'spki' })
    } else {
      key = input.type === 'private' ? createPublicKey(input) : input
    }
  } catch (cause) {
    if (cause instanceof SealingError) throw cause
    throw badKey(field, kind, 'public', cause)
  }
  if (key.asymmetricKeyType !== kind) throw badKey(field, kind, 'public')
  return key
}

export function importPrivateKey(input: KeyInput, kind: KeyKind, field = 'privateKey'): KeyObject {
  let key: KeyObject
  try {
    if (typeof input === 'string' && input.includes('-----BEGIN')) {
      key = createPrivateKey(input)
    } else if (typeof input === 'string' || input instanceof Uint8Array) {
      const raw = typeof input === 'string' ? decodeBase64Url(input.trim(), field, { exact: 32 }) : input
      if (raw.length !== 32) throw new Error('not 32 bytes')
      const der = Buffer.concat([pkcs8Prefix[kind], raw])
      try {
        key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
      } finally {
        der.fill(0)
        if (typeof input === 'string') raw.fill(0)
      }
    } else {
      key = input
    }
  } catch (cause) {
    if (cause instanceof SealingError) throw cause
    throw badKey(field, kind, 'private', cause)
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== kind) throw badKey(field, kind, 'private')
  return key
}

function badKey(field: string, kind: KeyKind, which: 'public' | 'private', cause?: unknown): SealingError {
  return new SealingError(
    SealingFailure.Malformed,
    `${field}: must be an ${curve[kind]} ${which} key (KeyObject, PEM, or base64url of its 32 raw bytes)`,
    { field, ...(cause === undefined ? {} : { cause }) },
  )
}
