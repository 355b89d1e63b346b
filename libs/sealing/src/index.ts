export {
  DEFAULT_KEK_ENV_VAR,
  type LoadKeyEncryptionKeyOptions,
  loadKeyEncryptionKey,
  writeKeyEncryptionKeyFile,
} from './adapters/key-encryption-key.ts'
export {
  AT_REST_VERSION,
  createKeyCheck,
  decryptAtRest,
  encryptAtRest,
  generateKeyEncryptionKey,
  KEK_BYTES,
  keyEncryptionKeyFromBytes,
  keyEncryptionKeyId,
  parseKeyEncryptionKey,
  verifyKeyCheck,
} from './domain/at-rest.ts'
export { SealingError, SealingFailure } from './domain/errors.ts'
export {
  type AgentKeyPair,
  exportPem,
  exportPrivateKey,
  exportPublicKey,
  generateAgentKeyPair,
  generateSignerKeyPair,
  importPrivateKey,
  importPublicKey,
  type KeyInput,
  type KeyKind,
  keyIdOf,
  rawPublicKey,
  type SignerKeyPair,
} from './domain/keys.ts'
export {
  inspectSealed,
  type OpenOptions,
  open,
  open as openSealed,
  SEAL_VERSION,
  type SealedEnvelope,
  type SealOptions,
  seal,
  type TrustedSigner,
} from './domain/seal.ts'
