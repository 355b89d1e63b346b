import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import type * as tls from 'node:tls'
import { LDAP_TIMEOUT_MS_DEFAULT, ValidationError } from '@krbfleet/contracts'
import type { Logger } from '@krbfleet/logging'
import { parseDn } from '../../domain/dn.ts'

export interface ConnectDirectoryOptions {
  /** `ldaps://host:636`, or `ldap://host:389` with `startTls: true`. */
  url: string
  /** Upgrade an ldap:// connection with StartTLS (RFC 4511 4.14) before binding. */
  startTls?: boolean
  /** The CA certificate(s) (PEM) the DC's certificate must chain to. One of ca / caFile is required for TLS. */
  ca?: string | Buffer
  caFile?: string
  /** The name the DC's certificate carries (Samba's: DC1.corp.example.com); defaults to the URL's host name. */
  servername?: string
  bindDn: string
  password: string
  /** Per operation and for connecting; default LDAP_TIMEOUT_MS_DEFAULT (10 000 ms). */
  timeoutMs?: number
  /**
   * Allow plain ldap:// without StartTLS, for reads only: `encrypted` is then false and every
   * password write is refused before anything is sent.
   */
  allowInsecure?: boolean
  logger?: Logger
  /** Called after every LDAP operation with its duration and outcome (`ok` or the error code): metrics. */
  observe?: LdapObserver
}

/** `operation` (search, modify, setPassword ...), seconds taken, `ok` or the mapped error code. */
export type LdapObserver = (operation: string, seconds: number, outcome: string) => void

/** What a connection needs once the options were checked: the TLS options are set exactly when it is encrypted. */
export interface ConnectionPlan {
  url: string
  /** ldaps://: TLS from the first byte. */
  ldaps: boolean
  /** ldap:// upgraded with StartTLS before the bind. */
  startTls: boolean
  tls: tls.ConnectionOptions | undefined
  bindDn: string
  password: string
  timeoutMs: number
}

/**
 * The refusal of plain ldap://. The services take their LDAP options from settings
 * (libs/directory settings.ts, variable names from libs/runtime loadConfig), so the advice names
 * the settings an operator can change; `allowInsecure` is a code option for read-only tools.
 */
export const plainLdapRefusal =
  'ldap:// without StartTLS is not encrypted: set KRBFLEET_LDAP_URL to an ldaps:// URL, or KRBFLEET_LDAP_START_TLS=true'

function invalidOption(field: string, rule: string): ValidationError {
  return new ValidationError([{ field, rule }], 'directory options')
}

/**
 * Checks the options before any socket is opened and pins the CA: TLS verifies the DC against the
 * given CA only (no system trust store), with TLS 1.2 or later and the certificate's name.
 */
export async function planConnection(options: ConnectDirectoryOptions): Promise<ConnectionPlan> {
  let url: URL
  try {
    url = new URL(options.url)
  } catch {
    throw invalidOption('url', 'must be an ldaps:// or ldap:// URL')
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase()
  if (scheme !== 'ldap' && scheme !== 'ldaps')
    throw invalidOption('url', 'must be an ldaps:// or ldap:// URL')
  if (scheme === 'ldaps' && options.startTls) {
    throw invalidOption('startTls', 'applies to ldap:// only; ldaps:// is already TLS')
  }
  if (typeof options.bindDn !== 'string' || options.bindDn === '')
    throw invalidOption('bindDn', 'is required')
  parseDn(options.bindDn, 'bindDn')
  if (typeof options.password !== 'string' || options.password === '') {
    throw invalidOption('password', 'is required (anonymous binds are not used)')
  }
  if (options.timeoutMs !== undefined && !(Number.isInteger(options.timeoutMs) && options.timeoutMs > 0)) {
    throw invalidOption('timeoutMs', 'must be a positive integer')
  }
  const ldaps = scheme === 'ldaps'
  const startTls = options.startTls === true
  if (!ldaps && !startTls && !options.allowInsecure) throw invalidOption('url', plainLdapRefusal)
  return {
    url: options.url,
    ldaps,
    startTls,
    tls: ldaps || startTls ? await pinnedTls(options, url) : undefined,
    bindDn: options.bindDn,
    password: options.password,
    timeoutMs: options.timeoutMs ?? LDAP_TIMEOUT_MS_DEFAULT,
  }
}

async function pinnedTls(options: ConnectDirectoryOptions, url: URL): Promise<tls.ConnectionOptions> {
  let ca = options.ca
  if (ca === undefined && options.caFile !== undefined) {
    try {
      ca = await readFile(options.caFile)
    } catch (err) {
      throw invalidOption('caFile', `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  if (ca === undefined || ca.length === 0) {
    throw invalidOption('ca', 'a CA certificate (ca or caFile) is required to verify the DC over TLS')
  }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const servername = options.servername ?? (isIP(host) ? undefined : host)
  if (servername === undefined) {
    throw invalidOption('servername', 'is required when the URL names the DC by IP address')
  }
  return { ca, servername, minVersion: 'TLSv1.2', rejectUnauthorized: true }
}
