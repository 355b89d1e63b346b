import { LdapTimeoutMs } from '@krbfleet/contracts'
import type { Logger } from '@krbfleet/logging'
import Type, { type Static } from 'typebox'
import type { ConnectDirectoryOptions, LdapObserver } from './adapters/ldap/connect-options.ts'
import { connectDirectory, type Directory } from './adapters/ldap/directory.ts'

/**
 * The LDAP settings group of the services that talk to AD (`ldap: LdapSettings`). With libs/runtime
 * loadConfig the variables are KRBFLEET_LDAP_URL, KRBFLEET_LDAP_START_TLS, KRBFLEET_LDAP_CA_FILE,
 * KRBFLEET_LDAP_SERVERNAME, KRBFLEET_LDAP_BIND_DN, KRBFLEET_LDAP_PASSWORD (better
 * KRBFLEET_LDAP_PASSWORD_FILE) and KRBFLEET_LDAP_TIMEOUT_MS.
 */
export const LdapSettings = Type.Object({
  /** `ldaps://dc1.corp.example.com:636`, or `ldap://...:389` with startTls. */
  url: Type.String({
    pattern: '^ldaps?://',
    description: 'ldaps://host:636 or ldap://host:389 with StartTLS',
  }),
  startTls: Type.Boolean({ default: false }),
  /** The CA is pinned (no system trust store): the DC's certificate must chain to it. */
  caFile: Type.String({ minLength: 1 }),
  /** The name in the DC's certificate when it differs from the URL's host (Samba: DC1.corp.example.com). */
  servername: Type.Optional(Type.String({ minLength: 1 })),
  bindDn: Type.String({ minLength: 1 }),
  password: Type.String({ minLength: 1 }),
  /** One LDAP operation or connect waits this long (the waits of krbfleet derive from it: contracts timeouts.ts). */
  timeoutMs: LdapTimeoutMs,
})
export type LdapSettings = Static<typeof LdapSettings>

/** The loaded settings, or a literal in code where the defaulted fields may be left out. */
export type LdapSettingsInput = Omit<LdapSettings, 'startTls' | 'timeoutMs'> &
  Partial<Pick<LdapSettings, 'startTls' | 'timeoutMs'>>

/** The connectDirectory options a settings group stands for. */
export function directoryOptionsFromSettings(
  settings: LdapSettingsInput,
  logger?: Logger,
): ConnectDirectoryOptions {
  return {
    url: settings.url,
    startTls: settings.startTls ?? false,
    caFile: settings.caFile,
    ...(settings.servername ? { servername: settings.servername } : {}),
    bindDn: settings.bindDn,
    password: settings.password,
    ...(settings.timeoutMs !== undefined ? { timeoutMs: settings.timeoutMs } : {}),
    ...(logger ? { logger } : {}),
  }
}

/** connectDirectory from a settings group (encrypted: LDAPS or StartTLS with the pinned CA). */
export async function connectDirectoryFromSettings(
  settings: LdapSettingsInput,
  options: { logger?: Logger; observe?: LdapObserver } = {},
): Promise<Directory> {
  return await connectDirectory({
    ...directoryOptionsFromSettings(settings, options.logger),
    ...(options.observe ? { observe: options.observe } : {}),
  })
}
