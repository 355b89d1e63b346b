/**
 * @krbfleet/account: the only component that creates Kerberos computer accounts and resets their
 * passwords in AD, keeping the current secret sealed at rest in KV. See README.md.
 */
export { LdapAccountDirectory } from './adapters/ldap/account-directory.ts'
export {
  aadOf,
  KEK_CHECK_KEY,
  KekSecretBox,
  KvAccountStore,
  verifyKeyEncryptionKey,
} from './adapters/nats/account-store.ts'
export { RpcDesiredSpnSource, serveAccountRpc } from './adapters/nats/rpc.ts'
export { KvTopologyAssignments } from './adapters/nats/topology-assignments.ts'
export { type AccountServiceSettings, type RunningAccountService, startAccountService } from './start.ts'
export { AccountConfig, KEK_ENV_VAR } from './config.ts'
export {
  accountDn,
  accountInDomain,
  DEFAULT_ENCRYPTION_TYPES,
  type DomainInfo,
  dnsHostNameOf,
  EncryptionTypeBits,
  encryptionTypeNames,
  isManagedDescription,
  isUsableEncryptionTypes,
  MANAGED_DESCRIPTION,
  MANAGED_MARKER,
  newAccountAttributes,
  parseEncryptionTypes,
  resolveContainerDn,
  UserAccountControl,
} from './domain/account.ts'
export { type AccountPolicy, type DirectoryFacts, testAccount, worstStatus } from './domain/checks.ts'
export { generatePassword, MIN_PASSWORD_LENGTH, PASSWORD_ALPHABET } from './domain/password.ts'
export {
  type AccountRecord,
  AccountRecordCodec,
  abandonSecret,
  beginSecret,
  confirmSecret,
  type PendingSecret,
  resolvePending,
} from './domain/record.ts'
export type * from './ports.ts'
export { AccountService, type AccountServiceOptions, type CallContext } from './service.ts'
export {
  defaultRotationSettings,
  type RotationFailpoint,
  RotationRecord,
  type RotationSettings,
  rotationFailpoints,
} from './rotation/model.ts'
export { RotationSaga } from './rotation/saga.ts'
export { nextRotationAt } from './rotation/schedule.ts'
