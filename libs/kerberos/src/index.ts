export {
  type DeriveAccountKeysInput,
  defaultAccountEncTypes,
  deriveAccountKeys,
} from './domain/account-keys.ts'
export {
  dropKvnosBelow,
  decodeKeytab,
  encodeKeytab,
  formatPrincipal,
  KEYTAB_VERSION,
  type KeytabEntry,
  KeytabFormatError,
  type KeytabPrincipal,
  kvnosOf,
  mergeKeytabEntries,
  NameType,
  parsePrincipal,
  removeKvno,
  retainNewestKvnos,
  samePrincipal,
  sortKeytabEntries,
  wipeKeytabEntries,
} from './domain/keytab.ts'
export { nfold } from './domain/nfold.ts'
export { exportAccountKeys, importAccountKeys, type PortableAccountKeys } from './domain/portable-keys.ts'
export {
  adComputerSalt,
  checkComputerAccountName,
  type ComputerAccountName,
  computerNameOf,
  computerPrincipal,
  computerSamAccountName,
} from './domain/salt.ts'
export {
  assertEncType,
  defaultIterations,
  deriveKey,
  EncType,
  encTypeNames,
  isEncType,
  keyLength,
  maxIterations,
  parseS2kParams,
  stringToKey,
} from './domain/string-to-key.ts'
export { readKeytabFile, writeKeytabFile, type WriteKeytabFileOptions } from './adapters/keytab-file.ts'
