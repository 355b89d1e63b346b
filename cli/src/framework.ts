import { type ParseArgsConfig, parseArgs } from 'node:util'
import { ApiClient, ApiError } from './client.ts'

/**
 * The CLI framework: areas (`site`, `pool`, ...) made of verbs (`add`, `list`, ...). A command
 * module declares its verbs with their options; the framework parses arguments (node:util
 * parseArgs), adds `--json` to every verb and `--dry-run` to every change, builds the API client
 * from KRBFLEET_URL / KRBFLEET_TOKEN, and maps outcomes to exit codes:
 * 0 ok, 1 refused or failed, 2 usage (unknown verb, missing or bad argument).
 */

export const ExitCode = { Ok: 0, Failed: 1, Usage: 2 } as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & {
  description?: string
  /** A boolean that may be turned off explicitly (`--no-<name>`), shown as `--[no-]<name>`. */
  negatable?: boolean
}

export interface VerbSpec {
  summary: string
  /** Positional arguments, in order; a trailing `?` marks an optional one (`SITE?`). */
  args?: string[]
  options?: Record<string, OptionSpec>
  /** A change: gets `--dry-run`. */
  change?: boolean
  /** Needs no console (runs locally, like `token hash`). */
  offline?: boolean
  run(ctx: VerbContext): Promise<number | undefined> | number | undefined
}

export interface CommandModule {
  /** First word of the command (`site`). */
  area: string
  summary: string
  verbs: Record<string, VerbSpec>
  /** The verb run when the area is followed by options or nothing (`krbfleet events --follow`). */
  defaultVerb?: string
}

export interface CliIo {
  env: Record<string, string | undefined>
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Standard error is a terminal: live progress redraws one line there (else it prints lines). */
  stderrIsTerminal?: boolean
  /** Reads all of standard input (for secrets that must not be on the command line). */
  readStdin: () => Promise<string>
  /** Reads a file given on the command line (`-f FILE`); `-` is standard input. */
  readFile: (path: string) => Promise<string>
  /** Writes a file the command line names (`--report FILE`). */
  writeFile?: (path: string, text: string) => Promise<void>
  /**
   * `curl --negotiate` to http://<name>:<port>/ sent to `address`, with the caller's Kerberos ticket
   * cache (KRB5CCNAME) or the `ccache` given: the HTTP status, or null when nothing answered.
   */
  negotiate?: (
    name: string,
    address: string,
    port: number,
    ccache?: string,
  ) => Promise<{ status: number | null; detail?: string }>
  /**
   * A probe identity's ticket: `kinit -k -t keytab principal` into a fresh private cache (a 0700
   * folder of its own), removed by `dispose`. Rejects with kinit's reason.
   */
  probeTicket?: (keytab: string, principal: string) => Promise<{ ccache: string; dispose(): Promise<void> }>
}

export interface VerbContext {
  /** Positional arguments by their declared name (`SITE`), undefined when an optional one is absent. */
  args: Record<string, string | undefined>
  options: Record<string, string | boolean | string[] | boolean[] | undefined>
  json: boolean
  dryRun: boolean
  io: CliIo
  /** The console client (throws a usage error when KRBFLEET_URL is not set). */
  client(): ApiClient
  /** Prints a value: JSON with --json, else the human form given. */
  print(value: unknown, human: () => string): void
}

/** Bad command line: printed with the usage, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export function usage(modules: CommandModule[], area?: CommandModule): string {
  if (area) {
    const lines = [`usage: krbfleet ${area.area} <verb> [options]   (${area.summary})`, '', 'verbs:']
    for (const [name, verb] of Object.entries(area.verbs)) {
      lines.push(`  ${verbUsage(area.area, name, verb)}`)
      lines.push(`      ${verb.summary}`)
    }
    lines.push('', 'every verb takes --json; every change takes --dry-run')
    return lines.join('\n')
  }
  const lines = ['usage: krbfleet <area> <verb> [options]', '', 'areas:']
  for (const m of modules) lines.push(`  ${m.area.padEnd(12)} ${m.summary}`)
  lines.push(
    '',
    'environment: KRBFLEET_URL (console address), KRBFLEET_TOKEN (bearer token)',
    "run 'krbfleet <area> --help' for its verbs",
  )
  return lines.join('\n')
}

function verbUsage(area: string, name: string, verb: VerbSpec): string {
  const parts = [`krbfleet ${area} ${name}`]
  for (const a of verb.args ?? []) parts.push(a.endsWith('?') ? `[${a.slice(0, -1)}]` : a)
  for (const [option, spec] of Object.entries(verb.options ?? {})) {
    const name = spec.negatable ? `[no-]${option}` : option
    const flag = `--${name}${spec.type === 'string' ? ` ${option.toUpperCase().replaceAll('-', '_')}` : ''}`
    parts.push(`[${flag}${spec.multiple ? ' ...' : ''}]`)
  }
  if (verb.change) parts.push('[--dry-run]')
  parts.push('[--json]')
  return parts.join(' ')
}

function renderError(err: ApiError): string {
  if (err.status === 429) {
    // The console's rate limit: nothing was done; the same command works again after the wait.
    const wait = err.retryAfterSeconds === undefined ? 'a few seconds' : `${err.retryAfterSeconds} s`
    const limit = err.message.replace(/; retry in \d+ s$/, '')
    return `krbfleet: ${err.code}: ${limit}; nothing was changed: wait ${wait} and run the command again`
  }
  const field = err.field ? ` (field ${err.field})` : ''
  return `krbfleet: ${err.code}: ${err.message}${field}`
}

/** Runs one command line; never throws, returns the exit code. */
export async function runCli(argv: string[], io: CliIo, modules: CommandModule[]): Promise<number> {
  const [areaName, ...afterArea] = argv
  const defaulted = modules.find((m) => m.area === areaName)?.defaultVerb
  const first = afterArea[0]
  const [verbName, ...rest] =
    defaulted && (first === undefined || (first.startsWith('-') && first !== '-h' && first !== '--help'))
      ? [defaulted, ...afterArea]
      : afterArea
  if (!areaName || areaName === '--help' || areaName === '-h' || areaName === 'help') {
    ;(areaName ? io.stdout : io.stderr)(`${usage(modules)}\n`)
    return areaName ? ExitCode.Ok : ExitCode.Usage
  }
  const area = modules.find((m) => m.area === areaName)
  if (!area) {
    io.stderr(`krbfleet: unknown command '${areaName}'\n\n${usage(modules)}\n`)
    return ExitCode.Usage
  }
  if (!verbName || verbName === '--help' || verbName === '-h') {
    ;(verbName ? io.stdout : io.stderr)(`${usage(modules, area)}\n`)
    return verbName ? ExitCode.Ok : ExitCode.Usage
  }
  const verb = Object.hasOwn(area.verbs, verbName) ? area.verbs[verbName] : undefined
  if (!verb) {
    io.stderr(`krbfleet: unknown verb '${areaName} ${verbName}'\n\n${usage(modules, area)}\n`)
    return ExitCode.Usage
  }
  let json = false
  try {
    const options: Record<string, OptionSpec> = {
      ...verb.options,
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...(verb.change ? { 'dry-run': { type: 'boolean' } } : {}),
    }
    const parseOptions = Object.fromEntries(
      Object.entries(options).map(([k, { description: _d, negatable: _n, ...spec }]) => [k, spec]),
    ) as ParseArgsConfig['options']
    let parsed: ReturnType<typeof parseArgs>
    try {
      parsed = parseArgs({
        args: rest,
        options: parseOptions,
        allowPositionals: true,
        strict: true,
        allowNegative: true,
      })
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
    json = parsed.values.json === true
    if (parsed.values.help) {
      io.stdout(`usage: ${verbUsage(area.area, verbName, verb)}\n  ${verb.summary}\n`)
      return ExitCode.Ok
    }
    const declared = verb.args ?? []
    const required = declared.filter((a) => !a.endsWith('?')).length
    if (parsed.positionals.length < required) {
      throw new UsageError(`missing argument ${declared[parsed.positionals.length]}`)
    }
    if (parsed.positionals.length > declared.length) {
      throw new UsageError(`unexpected argument '${parsed.positionals[declared.length]}'`)
    }
    const args: Record<string, string | undefined> = {}
    declared.forEach((name, i) => {
      args[name.replace(/\?$/, '')] = parsed.positionals[i]
    })
    let client: ApiClient | undefined
    const ctx: VerbContext = {
      args,
      options: parsed.values as VerbContext['options'],
      json,
      dryRun: parsed.values['dry-run'] === true,
      io,
      client() {
        if (client) return client
        const url = io.env.KRBFLEET_URL
        if (!url)
          throw new UsageError('KRBFLEET_URL is not set (the console address, e.g. http://127.0.0.1:8080)')
        client = new ApiClient({ url, token: io.env.KRBFLEET_TOKEN })
        return client
      },
      print(value, human) {
        io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`)
      },
    }
    return (await verb.run(ctx)) ?? ExitCode.Ok
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`krbfleet: ${err.message}\nusage: ${verbUsage(area.area, verbName, verb)}\n`)
      return ExitCode.Usage
    }
    if (err instanceof ApiError) {
      if (json) io.stdout(`${JSON.stringify({ error: err.toJSON() }, null, 2)}\n`)
      io.stderr(`${renderError(err)}\n`)
      return ExitCode.Failed
    }
    io.stderr(`krbfleet: ${(err as Error)?.message ?? String(err)}\n`)
    return ExitCode.Failed
  }
}
