/**
 * @krbfleet/directory: Active Directory over LDAP (ldapts), encrypted, with escaped filters and
 * DNs and LDAP result codes mapped once to krbfleet errors.
 */
export type { ConnectDirectoryOptions, LdapObserver } from './adapters/ldap/connect-options.ts'
export { connectDirectory, type Directory } from './adapters/ldap/directory.ts'
export { DirectoryEntry, type RootDse } from './adapters/ldap/entry.ts'
export type { SearchOptions } from './adapters/ldap/reads.ts'
export type { SpnHolder } from './adapters/ldap/spns.ts'
export type { AttributeChange, AttributeValue } from './adapters/ldap/writes.ts'
export { toLdaptsFilter } from './adapters/ldap/filter.ts'
export {
  childDn,
  type DnAttribute,
  dnEquals,
  formatDn,
  isDnUnder,
  normalizeDn,
  parentDn,
  parseDn,
  type Rdn,
  rdnValue,
} from './domain/dn.ts'
export {
  LdapResultCode,
  type LdapErrorContext,
  mapLdapError,
  SpnConflictError,
  spnFromConflictMessage,
} from './domain/errors.ts'
export { accountServiceAces, adSchemaGuids, spnSyncAces } from './delegation.ts'
export { escapeDnValue, escapeFilterValue } from './domain/escape.ts'
export { checkAttributeName, type Filter, filter, matchingRule, renderFilter } from './domain/filter.ts'
export { encodeUnicodePwd, passwordAttributes } from './domain/password.ts'
export {
  defaultSpnMappings,
  defaultSpnMappingValues,
  parseSpn,
  parseSpnMappings,
  type SpnMappings,
  type SpnParts,
  spnConflictCandidates,
} from './domain/spn.ts'
export {
  connectDirectoryFromSettings,
  directoryOptionsFromSettings,
  LdapSettings,
  type LdapSettingsInput,
} from './settings.ts'
/** ldapts's change classes, so callers of modify() need no ldapts import of their own. */
export { Attribute, Change } from 'ldapts'
