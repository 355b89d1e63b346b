import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
    negotiate: (name, address, port, ccache) =>
      new Promise((resolve) => {
        const args = ['--negotiate', '-u', ':', '--resolve', `${name}:${port}:${address}`, '--max-time', '10']
        execFile(
          'curl',
          [...args, '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${name}:${port}/`],
          { env: ccache ? { ...process.env, KRB5CCNAME: ccache } : process.env },
          (error, stdout) => {
            const status = Number(stdout)
            if (status > 0) resolve({ status })
            else resolve({ status: null, detail: error ? error.message.split('\n')[0]! : 'no answer' })
          },
        )
      }),
    async probeTicket(keytab, principal) {
      const dir = await mkdtemp(join(tmpdir(), 'krbfleet-probe-'))
      const dispose = () => rm(dir, { recursive: true, force: true })
      const ccache = `FILE:${join(dir, 'ccache')}`
      const failure = await new Promise<string | null>((resolve) =>
        execFile(
          'kinit',
          ['-k', '-t', keytab, principal],
          { env: { ...process.env, KRB5CCNAME: ccache } },
          (error, _o, stderr) => resolve(error ? stderr.trim() || error.message : null),
        ),
      )
      if (failure === null) return { ccache, dispose }
      await dispose()
      throw new Error(`the probe identity ${principal} got no ticket from ${keytab}: ${failure}`)
    },
  },
  commandModules,
)
