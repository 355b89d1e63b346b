import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
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
    writeFile: (path, content) => writeFile(path, content),
    negotiate: (name, address, port) =>
      new Promise((resolve) => {
        const args = ['--negotiate', '-u', ':', '--resolve', `${name}:${port}:${address}`, '--max-time', '10']
        execFile(
          'curl',
          [...args, '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${name}:${port}/`],
          (error, stdout) => {
            const status = Number(stdout)
            if (status > 0) resolve({ status })
            else resolve({ status: null, detail: error ? error.message.split('\n')[0]! : 'no answer' })
          },
        )
      }),
  },
  commandModules,
)
