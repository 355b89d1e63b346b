export { type BuildAppOptions, buildApp } from './app.ts'
export type { ChangeAudit, ConsoleApp, ConsoleDeps, RouteContext, RouteModule, RpcCaller } from './context.ts'
export {
  hashToken,
  type Principal,
  parseTokenRecords,
  Role,
  roleAllows,
  TokenRecord,
  TokenRecords,
  TokenVerifier,
} from './domain/auth.ts'
export { loadTokensFile } from './adapters/fs/tokens-file.ts'
export { ConsoleConfig } from './config.ts'
export { defaultRateLimit, type RateLimitSettings } from './plugins/rate-limit.ts'
export { routeModules } from './routes/index.ts'
export { busReaders } from './adapters/nats/readers.ts'
