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
 * Every keytab change replaces the file atomically (write, fsync, rename; libs/kerberos), mode 0640
 * and the web server's group by default; on any failure the previous keytab stays. The account ->
 * principal map and the active kvno live in a small state file (no key in it).
 */
import { access, chown, constants, mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ErrorCode, KrbfleetError, parseAccountName } from '@krbfleet/contracts'
import {
  importAccountKeys,
  type KeytabEntry,
  KeytabFormatError,
  kvnosOf,
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
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work)
    queue = next.catch(() => {})
    return next
  }

  const readEntries = async (): Promise<KeytabEntry[]> => {
    try {
      return await readKeytabFile(path)
    } catch (err) {
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
    const created = await mkdir(dirname(path), { recursive: true, mode: 0o750 })
    if (created !== undefined && options.gid !== undefined) await chown(dirname(path), -1, options.gid)
  }
  const writeEntries = async (entries: KeytabEntry[]): Promise<void> => {
    try {
      await ensureFolder()
      await writeKeytabFile(path, sortKeytabEntries(entries), {
        mode,
        ...(options.gid === undefined ? {} : { gid: options.gid }),
      })
    } catch (err) {
      throw ioError(`${path}: cannot be replaced; the previous keytab stays`, err)
    }
  }
  const loadState = async (): Promise<KeytabState> => {
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
    return state
  }
  const saveState = async (state: KeytabState): Promise<void> => {
    await mkdir(dirname(statePath), { recursive: true, mode: 0o700 })
    await replaceFile(statePath, Buffer.from(`${JSON.stringify(state, null, 2)}\n`), { mode: 0o600 })
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

  return {
    kind: 'keytab',

    stage: (credential: AgentCredential) =>
      serial(async () => {
        const { account, kvno } = credential
        const principal = principalOf(credential)
        const incoming = importAccountKeys({ principal: credential.principal, kvno, keys: credential.keys })
        const state = await loadState()
        const held = state.accounts[account]
        if (held && held.principal !== credential.principal) {
          throw invalid(`${account} is installed as ${held.principal}, not ${credential.principal}`)
        }
        if (held?.active != null && kvno < held.active) {
          throw invalid(`kvno ${kvno} of ${account} is older than the active kvno ${held.active}`)
        }
        const entries = await readEntries()
        try {
          const same = entries.filter((e) => samePrincipal(e.principal, principal) && e.kvno === kvno)
          if (same.length > 0 && sameKeys(same, incoming)) {
            if (!held)
              await saveState({
                ...state,
                accounts: { ...state.accounts, [account]: { principal: credential.principal, active: null } },
              })
            return
          }
          if (same.length > 0 && held?.active === kvno) {
            throw new KrbfleetError(
              ErrorCode.Conflict,
              `kvno ${kvno} of ${account} is active with other keys; a kvno names one password`,
              { retryable: false },
            )
          }
          // A staged kvno of an aborted rotation is replaced: AD never confirmed it.
          const others = entries.filter((e) => !(samePrincipal(e.principal, principal) && e.kvno === kvno))
          await writeEntries([...others, ...incoming])
        } finally {
          wipeKeytabEntries(entries)
          wipeKeytabEntries(incoming)
        }
        if (!held) {
          state.accounts[account] = { principal: credential.principal, active: null }
          await saveState(state)
        }
        logger.info({ account, kvno }, 'keys staged in the keytab (the current ones stay)')
      }),

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
        } finally {
          wipeKeytabEntries(entries)
        }
        logger.info({ account, kvno }, 'kvno active')
      }),

    retire: (account: string, keep: readonly number[]) =>
      serial(async () => {
        const held = (await loadState()).accounts[account]
        if (!held) return
        const principal = parsePrincipal(held.principal)
        const retired = await dropEntries(
          (e) => samePrincipal(e.principal, principal) && e.kvno !== held.active && !keep.includes(e.kvno),
        )
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
        const entries = await readEntries()
        try {
          const keys: HeldKey[] = []
          for (const [account, held] of Object.entries(state.accounts)) {
            for (const kvno of kvnosOf(entries, parsePrincipal(held.principal)))
              keys.push({ account, kvno, active: kvno === held.active })
          }
          return keys.sort((a, b) => a.account.localeCompare(b.account) || b.kvno - a.kvno)
        } finally {
          wipeKeytabEntries(entries)
        }
      }),

    health: () =>
      serial(async (): Promise<BackendHealth> => {
        try {
          await loadState()
          wipeKeytabEntries(await readEntries())
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
