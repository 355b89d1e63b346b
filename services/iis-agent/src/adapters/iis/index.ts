// The iis backend and its two IIS adapters (README, "iis backend"); re-exported by src/index.ts.
export { appcmdArgs, appcmdConfigurator, type AppcmdConfiguratorOptions, DEFAULT_APPCMD } from './appcmd.ts'
export {
  type IisChange,
  IisConfigError,
  type IisConfigurator,
  IisFailure,
  type IisIdentity,
  type IisState,
  type IisTarget,
  iisUserName,
  type PoolRecycler,
  type PoolState,
  type SiteState,
} from './configurator.ts'
export { type FileConfiguratorOptions, fileConfigurator, loggingRecycler } from './file-configurator.ts'
export { type IisBackendOptions, iisBackend, iisStatePaths } from './iis-backend.ts'
export {
  LOCAL_PROVIDER,
  loadOrCreateLocalKey,
  localKeyProtector,
  type PasswordProtector,
  parseProtected,
} from './password-protector.ts'
