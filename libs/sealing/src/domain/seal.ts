/**
 * A credential sealed to one agent and signed by the account service.
 *
 *   ephemeral X25519 key pair (RFC 7748), shared = X25519(ephemeral private, recipient public)
 *   key   = HKDF-SHA256(shared, salt = ephemeral public || recipient public,
 *                       info = version || type || signer || context)                (RFC 5869)
 *   ct    = AES-256-GCM(key, random 96-bit nonce, payload, aad = header || context) (NIST SP 800-38D)
 *   sig   = Ed25519(signer private, header || ciphertext)                          (RFC 8032)
 *
 * The header holds the version, the payload type, the signer and recipient key ids, the
 * ephemeral public key and the nonce. `open` checks the signature over everything before it
 * decrypts anything, so a forged or altered envelope never reaches the decryption.
 */
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto'
import { decodeBase64Url, framed, utf8 } from './encoding.ts'
import { SealingError, SealingFailure } from './errors.ts'
import { type KeyInput, importPrivateKey, importPublicKey, keyIdOf, rawPublicKey } from './keys.ts'

export const SEAL_VERSION = 'krbfleet-seal/1'

/** The JSON-safe form of a sealed payload; every binary field is base64url. */
export interface SealedEnvelope {
  v: typeof SEAL_VERSION
  /** `json` when an object was sealed, `bytes` for a Uint8Array. */
  typ: 'json' | 'bytes'
  /** Key id of the signer (see `keyIdOf`). */
  signer: string
  /** Key id of the recipient agent's public key. */
  recipient: string
  /** Ephemeral X25519 public key, 32 bytes. */
  epk: string
  /** AES-GCM nonce, 12 bytes. */
  nonce: string
  /** AES-GCM ciphertext followed by its 16-byte tag. */
  ciphertext: string
  /** Ed25519 signature, 64 bytes. */
  signature: string
}

export interface SealOptions {
  recipientPublicKey: KeyInput
  signer: { privateKey: KeyInput; keyId?: string }
  /**
   * What the payload is for (e.g. `CORP.KERBAUTH/kvno 7/web01`). Bound into the key derivation
   * and the AEAD: opening with another context fails. Not stored in the envelope.
   */
  context?: string
}

export interface TrustedSigner {
  publicKey: KeyInput
  /** Defaults to the key's fingerprint, as in `generateSignerKeyPair().keyId`. */
  keyId?: string
}

export interface OpenOptions {
  recipientPrivateKey: KeyInput
  /** The one trusted signer key, or several during a signer key change. */
  signerPublicKey: KeyInput | readonly TrustedSigner[]
  context?: string
}

const NONCE_BYTES = 12
const TAG_BYTES = 16
const MAX_KEY_ID = 128

export function seal(payload: Uint8Array | object, options: SealOptions): SealedEnvelope {
  const recipientPublicKey = importPublicKey(options.recipientPublicKey, 'x25519', 'recipientPublicKey')
  const signerKey = importPrivateKey(options.signer.privateKey, 'ed25519', 'signer.privateKey')
  const signerId = options.signer.keyId ?? keyIdOf(signerKey)
  checkKeyId(signerId, 'signer.keyId')
  const context = options.context ?? ''
  const typ = payload instanceof Uint8Array ? 'bytes' : 'json'
  if (typ === 'json' && (payload === null || typeof payload !== 'object')) {
    throw new SealingError(SealingFailure.Malformed, 'payload: must be a Uint8Array or an object', {
      field: 'payload',
    })
  }
  const plaintext =
    payload instanceof Uint8Array
      ? Buffer.from(payload)
      : Buffer.from(JSON.stringify(payload) ?? 'null', 'utf8')

  const ephemeral = generateKeyPairSync('x25519')
  const header: Header = {
    typ,
    signer: signerId,
    recipient: keyIdOf(recipientPublicKey),
    epk: rawPublicKey(ephemeral.publicKey),
    nonce: randomBytes(NONCE_BYTES),
  }
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipientPublicKey })
  const key = contentKey(shared, header, rawPublicKey(recipientPublicKey), context)
  try {
    const cipher = createCipheriv('aes-256-gcm', key, header.nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(aad(header, context))
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    const signature = sign(null, signedBytes(header, ciphertext), signerKey)
    return {
      v: SEAL_VERSION,
      typ,
      signer: header.signer,
      recipient: header.recipient,
      epk: header.epk.toString('base64url'),
      nonce: header.nonce.toString('base64url'),
      ciphertext: ciphertext.toString('base64url'),
      signature: signature.toString('base64url'),
    }
  } finally {
    plaintext.fill(0)
  }
}

/**
 * Opens a sealed envelope (the object or its JSON text). Returns the JSON value that was sealed,
 * or a Buffer when bytes were sealed; validate it with its schema before use. Throws a
 * SealingError whose `reason` says what failed, in this order: malformed, unsupported_version,
 * wrong_signer, bad_signature, wrong_recipient, decryption_failed.
 */
export function open<T = unknown>(sealed: SealedEnvelope | string | unknown, options: OpenOptions): T {
  const envelope = parseEnvelope(sealed)
  const signerKey = trustedSignerFor(envelope.header.signer, options.signerPublicKey)
  if (!verify(null, signedBytes(envelope.header, envelope.ciphertext), signerKey, envelope.signature)) {
    throw new SealingError(
      SealingFailure.BadSignature,
      `sealed envelope: the signature of signer ${envelope.header.signer} does not verify; it was altered after sealing`,
    )
  }
  const recipientKey = importPrivateKey(options.recipientPrivateKey, 'x25519', 'recipientPrivateKey')
  const recipientId = keyIdOf(recipientKey)
  if (envelope.header.recipient !== recipientId) {
    throw new SealingError(
      SealingFailure.WrongRecipient,
      `sealed envelope: it is for agent key ${envelope.header.recipient}, not for this agent's key ${recipientId}`,
    )
  }
  const context = options.context ?? ''
  let plaintext: Buffer
  try {
    const epk = importPublicKey(envelope.header.epk, 'x25519', 'epk')
    const shared = diffieHellman({ privateKey: recipientKey, publicKey: epk })
    const key = contentKey(shared, envelope.header, rawPublicKey(recipientKey), context)
    const body = envelope.ciphertext.subarray(0, envelope.ciphertext.length - TAG_BYTES)
    const tag = envelope.ciphertext.subarray(envelope.ciphertext.length - TAG_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', key, envelope.header.nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(aad(envelope.header, context))
    decipher.setAuthTag(tag)
    plaintext = Buffer.concat([decipher.update(body), decipher.final()])
  } catch (cause) {
    throw new SealingError(
      SealingFailure.DecryptionFailed,
      'sealed envelope: it does not decrypt with this agent key and context (wrong context, or a different private key with the same id)',
      { cause },
    )
  }
  if (envelope.header.typ === 'bytes') return plaintext as T
  try {
    return JSON.parse(plaintext.toString('utf8')) as T
  } catch (cause) {
    throw new SealingError(SealingFailure.Malformed, 'sealed envelope: the sealed JSON does not parse', {
      cause,
    })
  } finally {
    plaintext.fill(0)
  }
}

/** Reads the unverified header (who signed it, for whom) for logs and routing. Trust nothing in it. */
export function inspectSealed(sealed: SealedEnvelope | string | unknown): {
  signer: string
  recipient: string
} {
  const { header } = parseEnvelope(sealed)
  return { signer: header.signer, recipient: header.recipient }
}

interface Header {
  typ: 'json' | 'bytes'
  signer: string
  recipient: string
  epk: Buffer
  nonce: Buffer
}

interface ParsedEnvelope {
  header: Header
  ciphertext: Buffer
  signature: Buffer
}

function headerBytes(header: Header): Buffer {
  return framed([
    utf8(SEAL_VERSION),
    utf8(header.typ),
    utf8(header.signer),
    utf8(header.recipient),
    header.epk,
    header.nonce,
  ])
}

function signedBytes(header: Header, ciphertext: Buffer): Buffer {
  return framed([headerBytes(header), ciphertext])
}

function aad(header: Header, context: string): Buffer {
  return framed([headerBytes(header), utf8(context)])
}

/**
 * The AES key, as a KeyObject: node:crypto tells a KeyObject from bytes by catching an exception
 * (Node 24), which cost 10-40 us at each of the HKDF and the cipher, more than the work itself.
 * The bytes it is made from (`shared` too) are zeroed here; the KeyObjects' copies go with them
 * (garbage collected).
 */
function contentKey(shared: Buffer, header: Header, recipientRaw: Buffer, context: string): KeyObject {
  let bytes: Uint8Array | undefined
  try {
    const salt = Buffer.concat([header.epk, recipientRaw])
    const info = framed([utf8(SEAL_VERSION), utf8(header.typ), utf8(header.signer), utf8(context)])
    bytes = new Uint8Array(hkdfSync('sha256', createSecretKey(shared), salt, info, 32))
    return createSecretKey(bytes)
  } finally {
    shared.fill(0)
    bytes?.fill(0)
  }
}

function parseEnvelope(sealed: unknown): ParsedEnvelope {
  let value = sealed
  if (typeof sealed === 'string') {
    try {
      value = JSON.parse(sealed)
    } catch {
      throw new SealingError(SealingFailure.Malformed, 'sealed envelope: is not JSON')
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SealingError(SealingFailure.Malformed, 'sealed envelope: must be an object')
  }
  const fields = value as Record<string, unknown>
  if (fields.v !== SEAL_VERSION) {
    throw new SealingError(
      SealingFailure.UnsupportedVersion,
      `sealed envelope: version ${typeof fields.v === 'string' ? JSON.stringify(fields.v.slice(0, 40)) : 'missing'} is not supported (expected ${SEAL_VERSION})`,
      { field: 'v' },
    )
  }
  if (fields.typ !== 'json' && fields.typ !== 'bytes') {
    throw new SealingError(SealingFailure.Malformed, 'typ: must be "json" or "bytes"', { field: 'typ' })
  }
  checkKeyId(fields.signer, 'signer')
  checkKeyId(fields.recipient, 'recipient')
  return {
    header: {
      typ: fields.typ,
      signer: fields.signer,
      recipient: fields.recipient,
      epk: decodeBase64Url(fields.epk, 'epk', { exact: 32 }),
      nonce: decodeBase64Url(fields.nonce, 'nonce', { exact: NONCE_BYTES }),
    },
    ciphertext: decodeBase64Url(fields.ciphertext, 'ciphertext', { min: TAG_BYTES }),
    signature: decodeBase64Url(fields.signature, 'signature', { exact: 64 }),
  }
}

function checkKeyId(value: unknown, field: string): asserts value is string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_KEY_ID ||
    !/^[\x21-\x7e]+$/.test(value)
  ) {
    throw new SealingError(
      SealingFailure.Malformed,
      `${field}: must be a key id of 1 to ${MAX_KEY_ID} printable characters`,
      {
        field,
      },
    )
  }
}

function trustedSignerFor(signerId: string, trusted: OpenOptions['signerPublicKey']) {
  const list: readonly TrustedSigner[] = Array.isArray(trusted)
    ? (trusted as readonly TrustedSigner[])
    : [{ publicKey: trusted as KeyInput }]
  const known = list.map((entry, i) => {
    const publicKey = importPublicKey(entry.publicKey, 'ed25519', `signerPublicKey.${i}`)
    return { publicKey, keyId: entry.keyId ?? keyIdOf(publicKey) }
  })
  const match = known.find((entry) => entry.keyId === signerId)
  if (!match) {
    throw new SealingError(
      SealingFailure.WrongSigner,
      `sealed envelope: signed by ${signerId}, which is not a trusted signer (trusted: ${known.map((k) => k.keyId).join(', ')})`,
    )
  }
  return match.publicKey
}
