import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './layout.ts'
import { nodeBinary } from './services.ts'

/** The krbfleet CLI as an operator runs it: `cli/bin/krbfleet`, configured by KRBFLEET_URL and KRBFLEET_TOKEN. */
export const cliBin = join(repoRoot, 'cli', 'bin', 'krbfleet')
const cliMain = join(repoRoot, 'cli', 'src', 'main.ts')

export function cliPresent(): boolean {
  return existsSync(cliBin) || existsSync(cliMain)
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export interface CliEnv {
  KRBFLEET_URL: string
  KRBFLEET_TOKEN: string
  /** The Kerberos client's configuration and ticket cache (`test assignment` probes with its ticket). */
  KRB5_CONFIG?: string
  KRB5CCNAME?: string
}

export async function runCli(args: string[], env: CliEnv): Promise<CliResult> {
  const [command, commandArgs] = existsSync(cliBin) ? [cliBin, args] : [nodeBinary, [cliMain, ...args]]
  return await new Promise((resolve) => {
    execFile(
      command,
      commandArgs,
      {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** Runs a CLI verb that must succeed; a failure names the verb and what the CLI said. */
export async function cli(args: string[], env: CliEnv): Promise<string> {
  const result = await runCli(args, env)
  if (result.code !== 0) {
    const said = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n  ')
    throw new Error(`krbfleet ${args.join(' ')} exited with ${result.code}:\n  ${said}`)
  }
  return result.stdout
}
