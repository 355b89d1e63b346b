/**
 * How the file adapter writes a pool's password into applicationHost.config: never in clear, always
 * as an IIS protected attribute value `[enc:<provider>:<payload>:enc]`. On Windows IIS encrypts
 * processModel passwords itself with a provider of its configProtectedData section
 * (https://learn.microsoft.com/en-us/iis/wmi-provider/configprotecteddatasection-class); the files
 * of current IIS versions show `[enc:IISWASOnlyCngProvider:...:enc]`, whose keys live in the machine's
 * key store. Node cannot use those keys, so on Windows the appcmd adapter is the one to use, and a
 * protector for the IIS providers is left to a native helper behind this interface.
 *
 * On Linux (tests, a lab without IIS) `localKeyProtector` is the documented stand-in: provider name
 * `KrbfleetLocalProvider`, payload = the libs/sealing at-rest record (AES-256-GCM, random nonce,
 * associated data naming the use) under a 32-byte key kept in a 0600 file beside the agent's key.
 * IIS itself cannot read such a value: a file written with it is for krbfleet's tests and tools.
 */
import type { KeyObject } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import {
  decryptAtRest,
  encryptAtRest,
  loadKeyEncryptionKey,
  writeKeyEncryptionKeyFile,
} from '@krbfleet/sealing'

export interface PasswordProtector {
  /** The provider name inside `[enc:<provider>:...:enc]`. */
  readonly provider: string
  protect(password: string): Promise<string>
  /**
   * The password inside `stored`, or undefined when another provider (or nobody) wrote it. Throws
   * when the value names this provider but does not decrypt (another key, or altered).
   */
  unprotect(stored: string): Promise<string | undefined>
}

export const LOCAL_PROVIDER = 'KrbfleetLocalProvider'
const AAD = 'krbfleet iis processModel password'
const PROTECTED = /^\[enc:([A-Za-z0-9_.-]+):([^:]*):enc\]$/

/** Splits `[enc:Provider:payload:enc]`; undefined for a value that is not protected (clear text). */
export function parseProtected(stored: string): { provider: string; payload: string } | undefined {
  const match = PROTECTED.exec(stored)
  return match ? { provider: match[1] as string, payload: match[2] as string } : undefined
}

export function localKeyProtector(key: KeyObject): PasswordProtector {
  return {
    provider: LOCAL_PROVIDER,
    async protect(password) {
      return `[enc:${LOCAL_PROVIDER}:${encryptAtRest(password, key, AAD)}:enc]`
    },
    async unprotect(stored) {
      const parsed = parseProtected(stored)
      if (!parsed || parsed.provider !== LOCAL_PROVIDER) return undefined
      const plaintext = decryptAtRest(parsed.payload, key, AAD)
      try {
        return plaintext.toString('utf8')
      } finally {
        plaintext.fill(0)
      }
    },
  }
}

/**
 * The local key (32 random bytes, base64, mode 0600): read when the file exists, created (in a
 * folder made 0700) when it does not. A file others may read, or one that is not a key, is refused
 * by libs/sealing with a message naming the file, never its content.
 */
export async function loadOrCreateLocalKey(path: string): Promise<KeyObject> {
  try {
    return await loadKeyEncryptionKey({ file: path })
  } catch (err) {
    if (!isMissing(err)) throw err
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  try {
    await writeKeyEncryptionKeyFile(path)
  } catch (err) {
    // Another agent process created it first: both use the one on disk.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  return loadKeyEncryptionKey({ file: path })
}

function isMissing(err: unknown): boolean {
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause
  return cause?.code === 'ENOENT'
}
