import { readFile } from 'node:fs/promises'
import { text } from 'node:stream/consumers'
import { commandModules } from './commands/index.ts'
import { runCli } from './framework.ts'

// The only module that touches `process`: arguments, environment, streams, exit code.
process.exitCode = await runCli(
  process.argv.slice(2),
  {
    env: process.env,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stderrIsTerminal: process.stderr.isTTY === true,
    readStdin: () => text(process.stdin),
    readFile: (path) => (path === '-' ? text(process.stdin) : readFile(path, 'utf8')),
  },
  commandModules,
)
