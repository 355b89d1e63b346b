/**
 * What the iis backend remembers between calls, in one file of the agent's state folder (mode
 * 0600, replaced atomically): per account the active kvno and the passwords of the kvnos it holds
 * (staged or active), each sealed at rest (libs/sealing AES-256-GCM, associated data naming the
 * account and kvno, so a value moved to another entry does not open). IIS holds only the active
 * password; a staged one waits here until activate switches the pools to it.
 */
import type { KeyObject } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { decryptAtRest, encryptAtRest } from '@krbfleet/sealing'
import { replaceFile } from '../fs/atomic-file.ts'

export interface StoredAccount {
  active: number | null
  /** kvno -> sealed password. */
  secrets: Record<string, string>
}

export interface StoredCredentials {
  version: 1
  /** The account whose identity the pools were last switched to. */
  applied: string | null
  accounts: Record<string, StoredAccount>
}

export interface CredentialStore {
  load(): Promise<StoredCredentials>
  save(state: StoredCredentials): Promise<void>
  seal(account: string, kvno: number, password: string): string
  open(account: string, kvno: number, sealed: string): string
}

const empty = (): StoredCredentials => ({ version: 1, applied: null, accounts: {} })

export function credentialStore(options: { path: string; key: KeyObject }): CredentialStore {
  const { path, key } = options
  const aad = (account: string, kvno: number) => `krbfleet iis-agent credential ${account} ${kvno}`
  return {
    async load() {
      let text: string
      try {
        text = await readFile(path, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty()
        throw storeError(`${path}: cannot be read (${(err as NodeJS.ErrnoException).code})`, err)
      }
      const state = parseState(text)
      if (!state) throw storeError(`${path}: not an iis-agent credential file; move it away to start afresh`)
      return state
    },
    async save(state) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      await replaceFile(path, Buffer.from(`${JSON.stringify(state, null, 2)}\n`), { mode: 0o600 })
    },
    seal: (account, kvno, password) => encryptAtRest(password, key, aad(account, kvno)),
    open(account, kvno, sealed) {
      const bytes = decryptAtRest(sealed, key, aad(account, kvno))
      try {
        return bytes.toString('utf8')
      } finally {
        bytes.fill(0)
      }
    },
  }
}

function parseState(text: string): StoredCredentials | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  const state = value as StoredCredentials
  if (state?.version !== 1 || typeof state.accounts !== 'object' || state.accounts === null) return undefined
  if (state.applied !== null && typeof state.applied !== 'string') return undefined
  for (const account of Object.values(state.accounts)) {
    if (typeof account !== 'object' || account === null || typeof account.secrets !== 'object')
      return undefined
    if (account.active !== null && !Number.isInteger(account.active)) return undefined
    if (!Object.values(account.secrets).every((s) => typeof s === 'string')) return undefined
  }
  return state
}

function storeError(message: string, cause?: unknown): KrbfleetError {
  return new KrbfleetError(ErrorCode.Unavailable, message, {
    retryable: false,
    ...(cause === undefined ? {} : { cause }),
  })
}
