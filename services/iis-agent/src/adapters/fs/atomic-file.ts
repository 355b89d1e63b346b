/**
 * Replacing a file so that a reader sees the old bytes or the new ones, never a mix, and a failure
 * at any step leaves the old file as it was: write a temporary file in the same folder (same file
 * system, so rename(2) is atomic), fsync it, rename it over the target, fsync the folder.
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'

/** The file changed between the caller's read and the rename: nothing was written (retryable). */
export class FileChangedError extends KrbfleetError {
  constructor(path: string) {
    super(ErrorCode.Conflict, `${path} changed while krbfleet edited it; nothing was written`, {
      retryable: true,
    })
    this.name = 'FileChangedError'
  }
}

export interface ReplaceFileOptions {
  mode: number
  uid?: number
  gid?: number
  /**
   * The bytes the file must still hold just before the rename. Another writer (IIS Manager, appcmd)
   * that changed it meanwhile would lose its change: the write is abandoned with a retryable error.
   */
  expect?: Uint8Array
}

export async function replaceFile(
  path: string,
  bytes: Uint8Array,
  options: ReplaceFileOptions,
): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    // 'wx': a new file, never one planted in advance; the mode applies from the first byte.
    const handle = await open(temporary, 'wx', options.mode)
    try {
      await handle.writeFile(bytes)
      await handle.chmod(options.mode)
      if (options.uid !== undefined && options.gid !== undefined) await handle.chown(options.uid, options.gid)
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (options.expect && !(await readFile(path)).equals(options.expect)) {
      throw new FileChangedError(path)
    }
    await rename(temporary, path)
  } catch (err) {
    await rm(temporary, { force: true })
    throw err
  }
  // After the rename the new file is in place; syncing the folder makes the rename itself durable.
  let folder: Awaited<ReturnType<typeof open>> | undefined
  try {
    folder = await open(dirname(path), 'r')
    await folder.sync()
  } catch {
    // Some platforms cannot open or fsync a folder (Windows): the rename stands all the same.
  } finally {
    await folder?.close()
  }
}
