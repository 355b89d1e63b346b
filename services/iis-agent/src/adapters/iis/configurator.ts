/**
 * The IIS side of the iis backend: the standard web-farm set-up for one shared Kerberos identity.
 * The configured application pools run as the Kerberos account (processModel identityType
 * SpecificUser, userName DOMAIN\NAME$, its password), and Windows authentication on the configured
 * sites decrypts tickets with the pool's credentials (useAppPoolCredentials="true"), so every server
 * of the pool accepts tickets for the pool's HTTP/ SPNs, which AD issues under that account.
 * - processModel: https://learn.microsoft.com/en-us/iis/configuration/system.applicationhost/applicationpools/add/processmodel
 * - windowsAuthentication: https://learn.microsoft.com/en-us/iis/configuration/system.webserver/security/authentication/windowsauthentication/
 * Two adapters implement the port: appcmd (Windows, IIS encrypts the password) and file (edits
 * applicationHost.config directly, with a pluggable password protector).
 */
import { ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import type { BackendHealth } from '../../ports.ts'

/** Which pools and sites of this server the account's identity goes to (from the agent's settings). */
export interface IisTarget {
  pools: readonly string[]
  sites: readonly string[]
}

export interface IisIdentity {
  /** Down-level logon name of the computer account: `CORP\KERBAUTH$`. */
  userName: string
  password: string
}

export interface PoolState {
  name: string
  /** As written in the file; undefined when the pool inherits it (applicationPoolDefaults). */
  identityType: string | undefined
  userName: string | undefined
  /** Whether a password is set (its value is never read out). */
  hasPassword: boolean
}

export interface SiteState {
  name: string
  /** windowsAuthentication enabled / useAppPoolCredentials in the site's location; undefined when not set there. */
  enabled: boolean | undefined
  useAppPoolCredentials: boolean | undefined
}

export interface IisState {
  pools: PoolState[]
  sites: SiteState[]
}

export interface IisChange {
  /** False when the configuration already was as asked: nothing was written, nothing needs a recycle. */
  changed: boolean
}

export interface IisConfigurator {
  readonly kind: 'appcmd' | 'file'
  /** Pools run as `identity`; Windows authentication uses the pool credentials on the sites. */
  apply(target: IisTarget, identity: IisIdentity): Promise<IisChange>
  /**
   * Takes the identity away: pools that run as `userName` go back to ApplicationPoolIdentity
   * (userName and password removed); useAppPoolCredentials is removed from the sites (its schema
   * default is false). Windows authentication stays enabled. Pools running as another user are left.
   */
  clear(target: IisTarget, userName: string): Promise<IisChange>
  read(target: IisTarget): Promise<IisState>
  /** Recycles the pools so their worker processes start with the new identity. */
  recycle(pools: readonly string[]): Promise<void>
  health(): Promise<BackendHealth>
}

/** Restarts application pools; the file adapter takes one (on Linux a stand-in that only logs). */
export interface PoolRecycler {
  recycle(pools: readonly string[]): Promise<void>
}

export const IisFailure = {
  /** The configuration file is not well-formed or not in the expected shape: refused, untouched. */
  Malformed: 'malformed',
  /** A pool or site named in the agent's settings is not in the IIS configuration. */
  Missing: 'missing',
  /** Two places configure the same thing (two processModel elements, two windowsAuthentication). */
  Ambiguous: 'ambiguous',
  /** The file changed while it was edited: try again. */
  Concurrent: 'concurrent',
  /** Reading, writing or running the tool failed (permissions, disk, appcmd error). */
  Io: 'io',
} as const
export type IisFailure = (typeof IisFailure)[keyof typeof IisFailure]

const codeOf: Record<IisFailure, ErrorCode> = {
  malformed: ErrorCode.Invalid,
  missing: ErrorCode.NotFound,
  ambiguous: ErrorCode.Conflict,
  concurrent: ErrorCode.Unavailable,
  io: ErrorCode.Unavailable,
}

/** A failure of the IIS configuration; its message names the file, pool or site, never a secret. */
export class IisConfigError extends KrbfleetError {
  readonly failure: IisFailure
  constructor(failure: IisFailure, message: string, options: { cause?: unknown; field?: string } = {}) {
    super(codeOf[failure], message, {
      retryable: failure === IisFailure.Concurrent || failure === IisFailure.Io,
      ...(options.field === undefined ? {} : { field: options.field }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    })
    this.name = 'IisConfigError'
    this.failure = failure
  }
}

/**
 * The IIS user name of a krbfleet account: `CORP\KERBAUTH` -> `CORP\KERBAUTH$`. A computer account's
 * name always ends with `$` (https://learn.microsoft.com/en-us/windows/win32/netmgmt/creating-a-new-computer-account)
 * and IIS takes a domain account as a down-level logon name, NetBIOS domain + `\` + account name
 * (https://learn.microsoft.com/en-us/windows/win32/secauthn/user-name-formats).
 */
export function iisUserName(account: string): string {
  const match = /^([^\\/:*?"<>|\s]+)\\([^\\/:*?"<>|\s]+)$/.exec(account)
  if (!match) {
    throw new IisConfigError(IisFailure.Malformed, `account '${account}' is not DOMAIN\\NAME`, {
      field: 'account',
    })
  }
  const name = match[2] as string
  return `${match[1]}\\${name.endsWith('$') ? name : `${name}$`}`
}

/** IIS compares pool and site names without regard to case. */
export function sameIisName(a: string, b: string): boolean {
  return a.toUpperCase() === b.toUpperCase()
}
