export { ApiClient, type ApiClientOptions, ApiError } from './client.ts'
export { commandModules } from './commands/index.ts'
export {
  type CliIo,
  type CommandModule,
  ExitCode,
  type OptionSpec,
  runCli,
  UsageError,
  usage,
  type VerbContext,
  type VerbSpec,
} from './framework.ts'
export { changeSummary, fields, table } from './output.ts'
