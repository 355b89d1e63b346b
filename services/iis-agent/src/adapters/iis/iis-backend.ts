/**
 * The iis credential backend (CredentialBackend, src/ports.ts) on top of an IisConfigurator.
 * IIS can run a pool with one password only, so the two-phase rotation maps to it this way:
 * - stage: the new password is kept sealed in the agent's state folder; IIS is not touched, the
 *   pools keep running with the current password (so no 401 window: AD still has it too).
 * - activate: the pools switch to the kvno's password (userName DOMAIN\NAME$), the sites use the
 *   pool credentials, and the pools are recycled; nothing is written when IIS already is so.
 * - retire: drops stored passwords of kvnos not kept (never the active one): IIS holds no old key.
 * - remove: pools running as the account go back to ApplicationPoolIdentity, useAppPoolCredentials
 *   is removed from the sites, the pools are recycled, and the account's stored passwords deleted.
 * Calls run one at a time; each is idempotent and, on failure, leaves the previous state in place.
 */
import type { KeyObject } from 'node:crypto'
import { join } from 'node:path'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import type { AgentCredential, BackendHealth, CredentialBackend, HeldKey } from '../../ports.ts'
import { type IisConfigurator, type IisTarget, iisUserName } from './configurator.ts'
import { credentialStore, type StoredAccount } from './credential-store.ts'

export interface IisBackendOptions {
  configurator: IisConfigurator
  /** The application pools and sites of this server that run as the account. */
  target: IisTarget
  /** Where the staged and active passwords are kept sealed (`iisStatePaths(stateDir).credentials`). */
  statePath: string
  /** Seals them: `loadOrCreateLocalKey(iisStatePaths(stateDir).key)`. */
  stateKey: KeyObject
  logger: Logger
}

/** The iis backend's files in the agent's state folder (KRBFLEET_AGENT_STATE_DIR). */
export function iisStatePaths(stateDir: string): { credentials: string; key: string } {
  return { credentials: join(stateDir, 'iis-credentials.json'), key: join(stateDir, 'iis-local.key') }
}

export function iisBackend(options: IisBackendOptions): CredentialBackend {
  const { configurator, target } = options
  const store = credentialStore({ path: options.statePath, key: options.stateKey })
  const logger = options.logger.child({ component: 'iis-backend', configurator: configurator.kind })
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work)
    queue = next.catch(() => {})
    return next
  }
  const accountOf = (accounts: Record<string, StoredAccount>, account: string): StoredAccount =>
    accounts[account] ?? { active: null, secrets: {} }

  return {
    kind: 'iis',

    stage: (credential: AgentCredential) =>
      serial(async () => {
        const { account, kvno, password } = credential
        iisUserName(account)
        if (password === undefined || password === '') {
          throw invalid(`credential for ${account} kvno ${kvno} has no password; the iis backend needs it`)
        }
        const state = await store.load()
        const held = accountOf(state.accounts, account)
        if (held.active !== null && kvno < held.active) {
          throw invalid(`kvno ${kvno} of ${account} is older than the active kvno ${held.active}`)
        }
        const sealed = held.secrets[String(kvno)]
        if (sealed !== undefined) {
          if (store.open(account, kvno, sealed) === password) return
          if (kvno === held.active) {
            throw new KrbfleetError(
              ErrorCode.Conflict,
              `kvno ${kvno} of ${account} is active with another password`,
            )
          }
        }
        held.secrets[String(kvno)] = store.seal(account, kvno, password)
        state.accounts[account] = held
        await store.save(state)
        logger.info({ account, kvno }, 'password staged (IIS unchanged until activation)')
      }),

    activate: (account: string, kvno: number) =>
      serial(async () => {
        const userName = iisUserName(account)
        const state = await store.load()
        const held = accountOf(state.accounts, account)
        const sealed = held.secrets[String(kvno)]
        if (sealed === undefined) {
          throw new KrbfleetError(
            ErrorCode.NotFound,
            `kvno ${kvno} of ${account} was not staged on this server`,
          )
        }
        if (held.active !== null && kvno < held.active) {
          throw invalid(`kvno ${kvno} of ${account} is older than the active kvno ${held.active}`)
        }
        const { changed } = await configurator.apply(target, {
          userName,
          password: store.open(account, kvno, sealed),
        })
        // Recycle also when IIS was already right but the switch was not recorded: a crash between
        // the write and the recycle would otherwise leave pools running with the old password.
        const recorded = state.applied === account && held.active === kvno
        if (changed || !recorded) await configurator.recycle(target.pools)
        if (!recorded) {
          state.applied = account
          state.accounts[account] = { ...held, active: kvno }
          await store.save(state)
        }
        logger.info({ account, kvno, changed, pools: target.pools }, 'pools run as the account')
      }),

    retire: (account: string, keep: readonly number[]) =>
      serial(async () => {
        const state = await store.load()
        const held = state.accounts[account]
        if (!held) return
        const drop = Object.keys(held.secrets).filter(
          (k) => Number(k) !== held.active && !keep.includes(Number(k)),
        )
        if (drop.length === 0) return
        for (const kvno of drop) delete held.secrets[kvno]
        await store.save(state)
        logger.info({ account, retired: drop.map(Number) }, 'stored passwords retired')
      }),

    remove: (account: string) =>
      serial(async () => {
        const userName = iisUserName(account)
        const state = await store.load()
        // IIS is asked even without a record: clear() reverts only pools that run as this account.
        const { changed } = await configurator.clear(target, userName)
        if (changed) await configurator.recycle(target.pools)
        if (state.accounts[account] || state.applied === account) {
          delete state.accounts[account]
          if (state.applied === account) state.applied = null
          await store.save(state)
        }
        logger.info({ account, changed }, 'account removed from IIS')
      }),

    held: () =>
      serial(async () => {
        const state = await store.load()
        const keys: HeldKey[] = []
        for (const [account, held] of Object.entries(state.accounts)) {
          for (const kvno of Object.keys(held.secrets).map(Number))
            keys.push({ account, kvno, active: kvno === held.active })
        }
        return keys.sort((a, b) => a.account.localeCompare(b.account) || b.kvno - a.kvno)
      }),

    health: () =>
      serial(async (): Promise<BackendHealth> => {
        const iis = await configurator.health()
        if (!iis.ok) return iis
        try {
          await configurator.read(target)
          await store.load()
          return { ok: true }
        } catch (err) {
          return { ok: false, detail: (err as Error).message }
        }
      }),
  }
}

function invalid(message: string): KrbfleetError {
  return new KrbfleetError(ErrorCode.Invalid, message, { retryable: false })
}
