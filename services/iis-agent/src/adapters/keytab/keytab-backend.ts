/**
 * The keytab credential backend (CredentialBackend, src/ports.ts): an MIT keytab for Apache
 * mod_auth_gssapi, nginx or any GSSAPI acceptor, holding AES256 and AES128 entries of the account
 * principal (`KERBAUTH$@CORP.EXAMPLE.COM`; the default acceptor tries every key of the keytab, so
 * tickets for `HTTP/<pool FQDN>` are accepted, lab/NOTES.md). The two-phase rotation maps to it:
 * - stage: the new kvno's keys join the keytab beside the current ones, which stay: tickets of
 *   either kvno are accepted, so there is no 401 window whichever way AD moves.
 * - activate: records the kvno as the one in use and, with a KdcCheck, asks the KDC whether it
 *   holds that key (as `kinit -k` would); the result shows in health().
 * - retire: drops kvnos not kept (never the active one), once no valid ticket can name them.
 * - remove: drops every key of the account (revocation).
 * - install: all of it for one credential (stage, activate when asked, retire) in one read and at
 *   most one write of each file: what a rotation's delivery does (credentials/receiver.ts).
 * Every keytab change replaces the file atomically (write, fsync, rename; libs/kerberos), mode 0640
 * and the web server's group by default; on any failure the previous keytab stays. The account ->
 * principal map and the active kvno live in a small state file (no key in it). What `held` and
 * `health` need (the state, and which kvnos of which principal the keytab has: no key) is kept from
 * the last read or write and read again only when the file's stat says it changed (inode, size,
 * mtime): a fleet's agents on one disk otherwise spend a rotation opening the same two files.
 */
import { statSync } from 'node:fs'
import { access, chown, constants, mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ErrorCode, KrbfleetError, parseAccountName } from '@krbfleet/contracts'
import {
  importAccountKeys,
  type KeytabEntry,
  KeytabFormatError,
  type KeytabPrincipal,
  parsePrincipal,
  readKeytabFile,
  samePrincipal,
  sortKeytabEntries,
  wipeKeytabEntries,
  writeKeytabFile,
} from '@krbfleet/kerberos'
import type { Logger } from 'pino'
import type { AgentCredential, BackendHealth, CredentialBackend, HeldKey } from '../../ports.ts'
import { replaceFile } from '../fs/atomic-file.ts'
import type { KdcCheck, KdcCheckResult } from './kdc-check.ts'

export interface KeytabBackendOptions {
  /** The keytab the web server reads (KRBFLEET_AGENT_KEYTAB). */
  path: string
  /** File mode of the keytab; default 0640 (the owner writes, the web server's group reads). */
  mode?: number
  /** The group that reads the keytab (the web server's, e.g. www-data); default: the agent's own. */
  gid?: number
  /** The account -> principal map and active kvnos (`keytabStatePath(stateDir)`). */
  statePath: string
  /** Checks an activated key against the KDC (kinitCheck()); none: no check. */
  kdcCheck?: KdcCheck
  logger: Logger
}

interface HeldAccount {
  principal: string
  active: number | null
}
/** One entry of the keytab without its key. */
interface HeldEntry {
  principal: KeytabPrincipal
  kvno: number
}
interface KeytabState {
  version: 1
  accounts: Record<string, HeldAccount>
}

/** The keytab backend's file in the agent's state folder (KRBFLEET_AGENT_STATE_DIR). */
export function keytabStatePath(stateDir: string): string {
  return join(stateDir, 'keytab-accounts.json')
}

export function keytabBackend(options: KeytabBackendOptions): CredentialBackend {
  const { path, statePath } = options
  const mode = options.mode ?? 0o640
  const logger = options.logger.child({ component: 'keytab-backend', keytab: path })
  /** The last KDC check of each account's active kvno, for health(). */
  const checks = new Map<string, { kvno: number; result: KdcCheckResult }>()
  /** The state file as last read or written, and the keytab's kvnos per principal (no keys), by stat. */
  let stateSeen: { stamp: string; state: KeytabState } | undefined
  let keytabSeen: { stamp: string; kvnos: HeldEntry[] } | undefined
  let folderReady = false
  let stateFolderReady = false
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work)
    queue = next.catch(() => {})
    return next
  }

  const readEntries = async (): Promise<KeytabEntry[]> => {
    try {
      const stamp = await stampOf(path)
      const entries = await readKeytabFile(path)
      keytabSeen = stamp === undefined ? undefined : { stamp, kvnos: kvnoList(entries) }
      return entries
    } catch (err) {
      keytabSeen = undefined
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      if (err instanceof KeytabFormatError) {
        throw new KrbfleetError(
          ErrorCode.Internal,
          `${path} is not a keytab krbfleet can read (${err.message}); move it away to start afresh`,
          { retryable: false, cause: err },
        )
      }
      throw ioError(`${path}: cannot be read`, err)
    }
  }
  /** The keytab's folder, created for the web server's group when missing (0750: it may traverse). */
  const ensureFolder = async (): Promise<void> => {
    if (folderReady) return
    const created = await mkdir(dirname(path), { recursive: true, mode: 0o750 })
    if (created !== undefined && options.gid !== undefined) await chown(dirname(path), -1, options.gid)
    folderReady = true
  }
  const writeEntries = async (entries: KeytabEntry[]): Promise<void> => {
    keytabSeen = undefined
    try {
      await ensureFolder()
      const sorted = sortKeytabEntries(entries)
      await writeKeytabFile(path, sorted, {
        mode,
        ...(options.gid === undefined ? {} : { gid: options.gid }),
      })
      const stamp = await stampOf(path)
      if (stamp !== undefined) keytabSeen = { stamp, kvnos: kvnoList(sorted) }
    } catch (err) {
      folderReady = false
      throw ioError(`${path}: cannot be replaced; the previous keytab stays`, err)
    }
  }
  /** The keytab's kvnos per principal: from the last read or write while the file is unchanged. */
  const keytabKvnos = async (): Promise<HeldEntry[]> => {
    const stamp = await stampOf(path).catch((err) => {
      throw ioError(`${path}: cannot be read`, err)
    })
    if (stamp === undefined) return []
    if (keytabSeen?.stamp !== stamp) wipeKeytabEntries(await readEntries())
    return keytabSeen?.kvnos ?? []
  }
  /** The state file (a copy: callers change it), read again only when its stat changed. */
  const loadState = async (): Promise<KeytabState> => {
    const stamp = await stampOf(statePath).catch((err) => {
      throw ioError(`${statePath}: cannot be read`, err)
    })
    if (stamp === undefined) {
      stateSeen = undefined
      return { version: 1, accounts: {} }
    }
    if (stateSeen?.stamp === stamp) return copyState(stateSeen.state)
    let text: string
    try {
      text = await readFile(statePath, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, accounts: {} }
      throw ioError(`${statePath}: cannot be read`, err)
    }
    const state = JSON.parse(text) as KeytabState
    if (state?.version !== 1 || typeof state.accounts !== 'object' || state.accounts === null) {
      throw new KrbfleetError(
        ErrorCode.Internal,
        `${statePath}: not a krbfleet keytab state file; move it away to start afresh`,
        { retryable: false },
      )
    }
    stateSeen = { stamp, state: copyState(state) }
    return state
  }
  const saveState = async (state: KeytabState): Promise<void> => {
    stateSeen = undefined
    try {
      if (!stateFolderReady) await mkdir(dirname(statePath), { recursive: true, mode: 0o700 })
      stateFolderReady = true
      await replaceFile(statePath, Buffer.from(`${JSON.stringify(state, null, 2)}\n`), { mode: 0o600 })
    } catch (err) {
      // The folder is made again next time (it may have been removed meanwhile).
      stateFolderReady = false
      throw err
    }
    const stamp = await stampOf(statePath)
    if (stamp !== undefined) stateSeen = { stamp, state: copyState(state) }
  }
  /** Rewrites the keytab without the entries `drop` selects; false when none matched. */
  const dropEntries = async (drop: (entry: KeytabEntry) => boolean): Promise<number[]> => {
    const entries = await readEntries()
    try {
      const dropped = entries.filter(drop)
      if (dropped.length === 0) return []
      await writeEntries(entries.filter((e) => !drop(e)))
      return [...new Set(dropped.map((e) => e.kvno))].sort((a, b) => b - a)
    } finally {
      wipeKeytabEntries(entries)
    }
  }

  /**
   * Makes `kvno` the active one (the state file) and, with a KdcCheck, asks the KDC about its keys.
   * `keys` are the keytab's entries of that kvno.
   */
  const switchTo = async (state: KeytabState, account: string, kvno: number, keys: KeytabEntry[]) => {
    const held = state.accounts[account]
    if (!held) throw invalid(`${account} is not installed`)
    if (held.active !== null && kvno < held.active) {
      throw invalid(`kvno ${kvno} of ${account} is older than the active kvno ${held.active}`)
    }
    if (held.active !== kvno) {
      state.accounts[account] = { ...held, active: kvno }
      await saveState(state)
    }
    if (options.kdcCheck) {
      const result = await options.kdcCheck(held.principal, keys)
      checks.set(account, { kvno, result })
      const log = result.outcome === 'rejected' ? logger.error.bind(logger) : logger.info.bind(logger)
      log({ account, kvno, kdc: result }, 'checked the active key against the KDC')
    }
    logger.info({ account, kvno }, 'kvno active')
  }

  /**
   * Puts the credential's keys beside the ones held (the current ones stay) and, for an install,
   * activates its kvno and drops the kvnos not in `keep`: one read of each file, at most one write.
   */
  const put = async (
    credential: AgentCredential,
    change: { activate: boolean; keep?: readonly number[] },
  ): Promise<void> => {
    const { account, kvno } = credential
    const principal = principalOf(credential)
    const incoming = importAccountKeys({ principal: credential.principal, kvno, keys: credential.keys })
    const state = await loadState()
    const held = state.accounts[account]
    const entries = await readEntries()
    try {
      if (held && held.principal !== credential.principal) {
        throw invalid(`${account} is installed as ${held.principal}, not ${credential.principal}`)
      }
      if (held?.active != null && kvno < held.active) {
        throw invalid(`kvno ${kvno} of ${account} is older than the active kvno ${held.active}`)
      }
      const same = entries.filter((e) => samePrincipal(e.principal, principal) && e.kvno === kvno)
      const present = same.length > 0 && sameKeys(same, incoming)
      if (same.length > 0 && !present && held?.active === kvno) {
        throw new KrbfleetError(
          ErrorCode.Conflict,
          `kvno ${kvno} of ${account} is active with other keys; a kvno names one password`,
          { retryable: false },
        )
      }
      // A staged kvno of an aborted rotation is replaced: AD never confirmed it.
      const others = entries.filter((e) => !(samePrincipal(e.principal, principal) && e.kvno === kvno))
      const active = change.activate ? kvno : (held?.active ?? null)
      const { keep } = change
      const retired = (e: KeytabEntry) => keep !== undefined && notKept(e, principal, active, keep)
      const next = [...others, ...incoming].filter((e) => !retired(e))
      const dropped = [...new Set(others.filter(retired).map((e) => e.kvno))]
      if (!present || dropped.length > 0) await writeEntries(next)
      if (!present) logger.info({ account, kvno }, 'keys staged in the keytab (the current ones stay)')
      if (dropped.length > 0) logger.info({ account, retired: dropped }, 'old kvnos retired from the keytab')
      if (!held) state.accounts[account] = { principal: credential.principal, active: null }
      if (change.activate) await switchTo(state, account, kvno, incoming)
      else if (!held) await saveState(state)
    } finally {
      wipeKeytabEntries(entries)
      wipeKeytabEntries(incoming)
    }
  }

  return {
    kind: 'keytab',

    stage: (credential: AgentCredential) => serial(() => put(credential, { activate: false })),

    install: (credential: AgentCredential, change: { activate: boolean; keep: readonly number[] }) =>
      serial(() => put(credential, change)),

    activate: (account: string, kvno: number) =>
      serial(async () => {
        const state = await loadState()
        const held = state.accounts[account]
        const entries = await readEntries()
        try {
          const principal = held ? parsePrincipal(held.principal) : undefined
          const keys = principal
            ? entries.filter((e) => samePrincipal(e.principal, principal) && e.kvno === kvno)
            : []
          if (!held || keys.length === 0) {
            throw new KrbfleetError(
              ErrorCode.NotFound,
              `kvno ${kvno} of ${account} was not staged on this server`,
              {
                retryable: false,
              },
            )
          }
          await switchTo(state, account, kvno, keys)
        } finally {
          wipeKeytabEntries(entries)
        }
      }),

    retire: (account: string, keep: readonly number[]) =>
      serial(async () => {
        const held = (await loadState()).accounts[account]
        if (!held) return
        const principal = parsePrincipal(held.principal)
        const retired = await dropEntries((e) => notKept(e, principal, held.active, keep))
        if (retired.length > 0) logger.info({ account, retired }, 'old kvnos retired from the keytab')
      }),

    remove: (account: string) =>
      serial(async () => {
        const state = await loadState()
        const held = state.accounts[account]
        if (!held) return
        const principal = parsePrincipal(held.principal)
        const removed = await dropEntries((e) => samePrincipal(e.principal, principal))
        delete state.accounts[account]
        await saveState(state)
        checks.delete(account)
        logger.info({ account, removed }, 'account removed from the keytab')
      }),

    held: () =>
      serial(async () => {
        const state = await loadState()
        const kvnos = await keytabKvnos()
        const keys: HeldKey[] = []
        for (const [account, held] of Object.entries(state.accounts)) {
          const principal = parsePrincipal(held.principal)
          const mine = kvnos.filter((k) => samePrincipal(k.principal, principal))
          for (const kvno of new Set(mine.map((k) => k.kvno)))
            keys.push({ account, kvno, active: kvno === held.active })
        }
        return keys.sort((a, b) => a.account.localeCompare(b.account) || b.kvno - a.kvno)
      }),

    health: () =>
      serial(async (): Promise<BackendHealth> => {
        try {
          await loadState()
          await keytabKvnos()
          await writableFolder(dirname(path))
        } catch (err) {
          return { ok: false, detail: (err as Error).message }
        }
        for (const [account, { kvno, result }] of checks) {
          if (result.outcome === 'rejected') {
            return { ok: false, detail: `the KDC refused kvno ${kvno} of ${account}: ${result.detail}` }
          }
        }
        return { ok: true }
      }),
  }
}

/**
 * What identifies a file's content without reading it (a replace is a new inode); undefined: none.
 * Synchronous on purpose: the kernel answers a stat from its inode cache in microseconds, while the
 * promise form's round trip through the thread pool cost a fleet's agents more than the call itself.
 */
async function stampOf(file: string): Promise<string | undefined> {
  try {
    const s = statSync(file, { bigint: true })
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** An entry of `principal` that retiring drops: neither the active kvno nor one kept. */
function notKept(
  entry: KeytabEntry,
  principal: KeytabPrincipal,
  active: number | null,
  keep: readonly number[],
): boolean {
  return samePrincipal(entry.principal, principal) && entry.kvno !== active && !keep.includes(entry.kvno)
}

function copyState(state: KeytabState): KeytabState {
  const accounts: Record<string, HeldAccount> = {}
  for (const [account, held] of Object.entries(state.accounts)) accounts[account] = { ...held }
  return { version: 1, accounts }
}

function kvnoList(entries: readonly KeytabEntry[]): HeldEntry[] {
  return entries.map((e) => ({ principal: e.principal, kvno: e.kvno }))
}

/**
 * The keytab's folder is writable, or, before the first credential created it, the nearest folder
 * above it that exists (where the backend will create it).
 */
async function writableFolder(folder: string): Promise<void> {
  for (let dir = folder; ; dir = dirname(dir)) {
    try {
      await access(dir, constants.W_OK)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw err
    }
  }
}

/** The credential's principal, which must be the account's own (`CORP\KERBAUTH` -> `KERBAUTH$@...`). */
function principalOf(credential: AgentCredential) {
  const account = parseAccountName(credential.account)
  let principal: ReturnType<typeof parsePrincipal>
  try {
    principal = parsePrincipal(credential.principal)
  } catch {
    throw invalid(`credential principal '${credential.principal}' must be NAME$@REALM`)
  }
  if (
    principal.components.length !== 1 ||
    principal.components[0]?.toUpperCase() !== account.samAccountName
  ) {
    throw invalid(`credential principal ${credential.principal} is not the principal of ${account.id}`)
  }
  return principal
}

function sameKeys(a: readonly KeytabEntry[], b: readonly KeytabEntry[]): boolean {
  if (a.length !== b.length) return false
  return a.every((x) => b.some((y) => y.enctype === x.enctype && y.key.equals(x.key)))
}

function invalid(message: string): KrbfleetError {
  return new KrbfleetError(ErrorCode.Invalid, message, { retryable: false })
}

function ioError(message: string, cause: unknown): KrbfleetError {
  const code = (cause as NodeJS.ErrnoException).code
  return new KrbfleetError(ErrorCode.Unavailable, `${message} (${code ?? (cause as Error).message})`, {
    retryable: true,
    cause,
  })
}
