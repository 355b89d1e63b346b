/**
 * Keytab files on disk. The write is atomic (temporary file in the same folder, fsync, rename):
 * MIT's acceptor re-reads a keytab replaced by rename on the next request, without a reload,
 * and never sees a half-written file (shared/lab/NOTES.md, "Kerberos end to end").
 */
import { randomBytes } from 'node:crypto'
import { chown, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { decodeKeytab, encodeKeytab, type KeytabEntry } from '../domain/keytab.ts'

export interface WriteKeytabFileOptions {
  /** File mode; 0600 by default (keys are secrets). A web server running as another user may need 0640 plus `gid`. */
  mode?: number
  uid?: number
  gid?: number
}

export async function readKeytabFile(path: string): Promise<KeytabEntry[]> {
  const bytes = await readFile(path)
  try {
    return decodeKeytab(bytes)
  } finally {
    bytes.fill(0)
  }
}

export async function writeKeytabFile(
  path: string,
  entries: readonly KeytabEntry[],
  options: WriteKeytabFileOptions = {},
): Promise<void> {
  const bytes = encodeKeytab(entries)
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const mode = options.mode ?? 0o600
  try {
    // 'wx': never follow or reuse an existing file; the mode applies from the first byte.
    const file = await open(temporary, 'wx', mode)
    try {
      await file.writeFile(bytes)
      await file.chmod(mode)
      await file.sync()
    } finally {
      await file.close()
    }
    if (options.uid !== undefined || options.gid !== undefined) {
      await chown(temporary, options.uid ?? -1, options.gid ?? -1)
    }
    await rename(temporary, path)
    await syncFolder(dirname(path))
  } catch (err) {
    await rm(temporary, { force: true })
    throw err
  } finally {
    bytes.fill(0)
  }
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
