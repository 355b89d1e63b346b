/**
 * The file adapter: edits applicationHost.config (%windir%\System32\inetsrv\config) itself. Only
 * the attributes the iis backend owns change; every other byte stays as it was (xml-edit). A file
 * that is not well-formed, or not UTF-8, is refused and left untouched; the new file replaces the
 * old one atomically, keeping its mode and owner. Passwords go through a PasswordProtector, never
 * in clear. Recycling is delegated to a PoolRecycler: on Linux `loggingRecycler`, a stand-in that
 * only logs, because there is no IIS to recycle.
 */
import { constants } from 'node:fs'
import { access, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Logger } from 'pino'
import type { BackendHealth } from '../../ports.ts'
import { planApply, planClear, readIisState } from './application-host.ts'
import { FileChangedError, replaceFile } from '../fs/atomic-file.ts'
import {
  type IisChange,
  IisConfigError,
  type IisConfigurator,
  IisFailure,
  type IisIdentity,
  type IisState,
  type IisTarget,
  type PoolRecycler,
} from './configurator.ts'
import type { PasswordProtector } from './password-protector.ts'
import { applyEdits, type TextEdit } from './xml-edit.ts'
import { parseXml, type XmlDocument, XmlSyntaxError } from './xml-scan.ts'

export interface FileConfiguratorOptions {
  /** applicationHost.config. */
  path: string
  protector: PasswordProtector
  recycler: PoolRecycler
}

interface LoadedFile {
  bytes: Buffer
  doc: XmlDocument
}

export function fileConfigurator(options: FileConfiguratorOptions): IisConfigurator {
  const { path, protector } = options

  const load = async (): Promise<LoadedFile> => {
    let bytes: Buffer
    try {
      bytes = await readFile(path)
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code
      throw new IisConfigError(IisFailure.Io, `${path}: cannot be read (${code ?? 'error'})`, { cause })
    }
    return { bytes, doc: parseConfig(bytes, path) }
  }

  const write = async (file: LoadedFile, edits: TextEdit[]): Promise<IisChange> => {
    if (edits.length === 0) return { changed: false }
    const text = applyEdits(file.doc.text, edits)
    // The result must parse too: an edit that broke the file would be refused by IIS at start.
    parseConfig(Buffer.from(text, 'utf8'), `${path} (as edited)`)
    const current = await stat(path)
    try {
      await replaceFile(path, Buffer.from(text, 'utf8'), {
        mode: current.mode & 0o7777,
        ...(process.getuid?.() === 0 ? { uid: current.uid, gid: current.gid } : {}),
        expect: file.bytes,
      })
    } catch (cause) {
      if (cause instanceof FileChangedError)
        throw new IisConfigError(IisFailure.Concurrent, cause.message, { cause })
      const code = (cause as NodeJS.ErrnoException).code
      throw new IisConfigError(
        IisFailure.Io,
        `${path}: cannot be replaced (${code ?? 'error'}); it is unchanged`,
        {
          cause,
        },
      )
    }
    return { changed: true }
  }

  return {
    kind: 'file',
    async apply(target: IisTarget, identity: IisIdentity): Promise<IisChange> {
      const file = await load()
      return write(file, await planApply(file.doc, target, identity, protector, path))
    },
    async clear(target: IisTarget, userName: string): Promise<IisChange> {
      const file = await load()
      return write(file, planClear(file.doc, target, userName, path))
    },
    async read(target: IisTarget): Promise<IisState> {
      return readIisState((await load()).doc, target, path)
    },
    recycle: (pools) => options.recycler.recycle(pools),
    async health(): Promise<BackendHealth> {
      try {
        await load()
        // The new file is made beside the old one and renamed over it: both must be writable.
        await access(path, constants.W_OK)
        await access(dirname(path), constants.W_OK)
        return { ok: true }
      } catch (err) {
        const detail =
          err instanceof IisConfigError
            ? err.message
            : `${path} is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`
        return { ok: false, detail }
      }
    },
  }
}

/** A recycler for machines without IIS: it logs which pools IIS would recycle, and does nothing else. */
export function loggingRecycler(logger: Logger): PoolRecycler {
  const log = logger.child({ component: 'iis-recycler' })
  return {
    async recycle(pools) {
      log.info({ pools }, 'application pools not recycled: no IIS on this machine (stand-in recycler)')
    },
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Decodes and parses the file; anything but well-formed UTF-8 XML is refused with the reason. */
function parseConfig(bytes: Uint8Array, source: string): XmlDocument {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new IisConfigError(IisFailure.Malformed, `${source}: not UTF-8 text; refused, left untouched`)
  }
  const declared = /^\uFEFF?<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']/.exec(text)?.[1]
  if (declared && declared.toLowerCase() !== 'utf-8') {
    throw new IisConfigError(
      IisFailure.Malformed,
      `${source}: encoding ${declared} is not supported (UTF-8 only); left untouched`,
    )
  }
  try {
    return parseXml(text)
  } catch (err) {
    if (!(err instanceof XmlSyntaxError)) throw err
    throw new IisConfigError(
      IisFailure.Malformed,
      `${source}: not well-formed XML (${err.message}); refused, left untouched`,
    )
  }
}
