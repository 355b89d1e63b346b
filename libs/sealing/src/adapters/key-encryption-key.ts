/**
 * Loading the key-encryption key at start-up, from an environment variable or a file. Every
 * failure is a SealingError with a message that says what to do; none contains the key.
 */
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import type { KeyObject } from 'node:crypto'
import { generateKeyEncryptionKey, parseKeyEncryptionKey, verifyKeyCheck } from '../domain/at-rest.ts'
import { SealingError, SealingFailure } from '../domain/errors.ts'

export const DEFAULT_KEK_ENV_VAR = 'KRBFLEET_KEK'

export interface LoadKeyEncryptionKeyOptions {
  /** A file holding the base64 key; it must not be accessible to group or others (mode 0600 or 0400). */
  file?: string
  /** The environment to read `envVar` from (main.ts passes process.env). */
  env?: Record<string, string | undefined>
  envVar?: string
  /** A check value made by `createKeyCheck`: when given, the key must match it. */
  check?: string
}

/**
 * Exactly one source must be set: the env var or the file. Refuses a missing key, a malformed
 * key, a file readable by others and, with `check`, a key other than the one data was stored with.
 */
export async function loadKeyEncryptionKey(options: LoadKeyEncryptionKeyOptions): Promise<KeyObject> {
  const envVar = options.envVar ?? DEFAULT_KEK_ENV_VAR
  const fromEnv = options.env?.[envVar]
  const hasEnv = fromEnv !== undefined && fromEnv.trim() !== ''
  if (hasEnv && options.file) {
    throw new SealingError(
      SealingFailure.KeyMalformed,
      `key-encryption key: both ${envVar} and the key file ${options.file} are set; set only one`,
      { field: envVar },
    )
  }
  let kek: KeyObject
  if (hasEnv) {
    kek = parseKeyEncryptionKey(fromEnv, envVar)
  } else if (options.file) {
    kek = parseKeyEncryptionKey(await readKeyFile(options.file), `key file ${options.file}`)
  } else {
    throw new SealingError(
      SealingFailure.KeyMissing,
      `key-encryption key: none configured; set ${envVar} or a key file (32 random bytes in base64)`,
      { field: envVar },
    )
  }
  if (options.check !== undefined) verifyKeyCheck(kek, options.check)
  return kek
}

async function readKeyFile(path: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    // Symbolic links are followed (Kubernetes mounts secrets through them); the mode checked
    // below is the mode of the file actually opened.
    handle = await open(path, constants.O_RDONLY)
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'ELOOP'
          ? 'is a symbolic link'
          : `cannot be read (${code})`
    throw new SealingError(SealingFailure.KeyMissing, `key file ${path}: ${why}`, { field: 'file', cause })
  }
  try {
    // fstat on the open file: the mode checked is the mode of the file read.
    const stats = await handle.stat()
    if (!stats.isFile()) {
      throw new SealingError(SealingFailure.KeyMalformed, `key file ${path}: is not a regular file`, {
        field: 'file',
      })
    }
    if ((stats.mode & 0o077) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, '0')
      throw new SealingError(
        SealingFailure.KeyInsecure,
        `key file ${path}: mode ${mode} lets group or others access it; run chmod 600 ${path}`,
        { field: 'file' },
      )
    }
    if (stats.size > 1024) {
      throw new SealingError(SealingFailure.KeyMalformed, `key file ${path}: too large to be a base64 key`, {
        field: 'file',
      })
    }
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

/** Creates a new key file (mode 0600, never overwriting an existing file) and returns nothing secret. */
export async function writeKeyEncryptionKeyFile(path: string): Promise<void> {
  const handle = await open(path, 'wx', 0o600)
  try {
    await handle.chmod(0o600)
    await handle.writeFile(`${generateKeyEncryptionKey()}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
}
