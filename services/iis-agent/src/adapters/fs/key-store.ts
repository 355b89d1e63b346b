import { createPublicKey, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { link, mkdir, open, unlink } from 'node:fs/promises'
import { platform } from 'node:os'
import { dirname } from 'node:path'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import {
  type AgentKeyPair,
  exportPem,
  exportPublicKey,
  generateAgentKeyPair,
  importPrivateKey,
  keyIdOf,
} from '@krbfleet/sealing'

/**
 * The agent's X25519 key pair (RFC 7748), generated on this machine at first start and kept in one
 * PEM file (PKCS#8, RFC 8410) readable by the agent's user only. Sealed credentials are encrypted
 * to its public half; the private half never leaves the file and the process memory (a KeyObject
 * prints no key material, so it cannot reach a log by accident).
 */
export interface AgentKey extends AgentKeyPair {
  /** base64url of the raw public key: what the agent enrols with. */
  encryptionKey: string
  /** True when this start created the file. */
  created: boolean
  path: string
}

export interface KeyStoreOptions {
  /** The setting that names the file, for messages (`KRBFLEET_AGENT_KEY_FILE`). */
  setting?: string
}

/** A key file that cannot be used; names the setting and the rule, never the content. */
export class AgentKeyFileError extends KrbfleetError {
  constructor(message: string, options: { setting: string; cause?: unknown }) {
    super(ErrorCode.Invalid, message, {
      field: options.setting,
      retryable: false,
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    })
    this.name = 'AgentKeyFileError'
  }
}

// POSIX modes only: on Windows the file's ACL (set by the installer, deploy/windows) protects it
// and st_mode always reports 0o666/0o444.
const checksMode = platform() !== 'win32'

/**
 * Reads the key file, or creates it when it does not exist. Refuses a file that the group or others
 * may read or write (mode & 0o077), or that does not hold an X25519 private key.
 */
export async function loadOrCreateAgentKey(path: string, options: KeyStoreOptions = {}): Promise<AgentKey> {
  const setting = options.setting ?? 'KRBFLEET_AGENT_KEY_FILE'
  const existing = await readKeyFile(path, setting)
  if (existing) return { ...existing, created: false, path }
  const created = await createKeyFile(path, setting)
  // Another agent process may have created the file first: everybody then uses the one on disk.
  if (!created) {
    const raced = await readKeyFile(path, setting)
    if (!raced) throw new AgentKeyFileError(`${setting}: ${path} vanished while it was created`, { setting })
    return { ...raced, created: false, path }
  }
  return { ...created, created: true, path }
}

type LoadedKey = Omit<AgentKey, 'created' | 'path'>

function describe(key: AgentKeyPair): LoadedKey {
  return { ...key, encryptionKey: exportPublicKey(key.publicKey) }
}

async function readKeyFile(path: string, setting: string): Promise<LoadedKey | undefined> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    // O_NOFOLLOW: a symlink planted in the state folder must not redirect the agent to another file.
    handle = await open(path, constants.O_RDONLY | (checksMode ? constants.O_NOFOLLOW : 0))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'ELOOP') {
      throw new AgentKeyFileError(`${setting}: ${path} is a symbolic link; it must be a regular file`, {
        setting,
      })
    }
    throw new AgentKeyFileError(`${setting}: cannot read ${path} (${code ?? 'error'})`, {
      setting,
      cause: err,
    })
  }
  try {
    // The mode is checked on the open file, not by path: no window to swap the file in between.
    const stat = await handle.stat()
    if (!stat.isFile()) {
      throw new AgentKeyFileError(`${setting}: ${path} is not a regular file`, { setting })
    }
    if (checksMode && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(3, '0')
      throw new AgentKeyFileError(
        `${setting}: ${path} has mode ${mode}; the agent's private key must be readable by its owner only (chmod 600 ${path}, or delete it to enrol with a new key)`,
        { setting },
      )
    }
    const text = await handle.readFile({ encoding: 'utf8' })
    let privateKey: ReturnType<typeof importPrivateKey>
    try {
      privateKey = importPrivateKey(text, 'x25519', setting)
    } catch {
      // No cause attached: it may quote the parser; the message names only the file and the rule.
      throw new AgentKeyFileError(
        `${setting}: ${path} does not hold an X25519 private key in PEM (PKCS#8) form`,
        { setting },
      )
    }
    const publicKey = createPublicKey(privateKey)
    return describe({ privateKey, publicKey, keyId: keyIdOf(publicKey) })
  } finally {
    await handle.close()
  }
}

/** Writes a new key pair with mode 0600 by link(2) from a temporary file: never a partial key file. */
async function createKeyFile(path: string, setting: string): Promise<LoadedKey | undefined> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new AgentKeyFileError(`${setting}: cannot create the folder of ${path}`, { setting, cause: err })
  }
  const key = generateAgentKeyPair()
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(temporary, 'wx', 0o600).catch((err: unknown) => {
    throw new AgentKeyFileError(`${setting}: cannot write ${temporary}`, { setting, cause: err })
  })
  try {
    await handle.chmod(0o600)
    await handle.writeFile(exportPem(key.privateKey))
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await link(temporary, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined
    throw new AgentKeyFileError(`${setting}: cannot create ${path}`, { setting, cause: err })
  } finally {
    await unlink(temporary).catch(() => {})
  }
  return describe(key)
}
