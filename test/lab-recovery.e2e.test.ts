import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { isAlive, readPidRecord } from '../deploy/lab/src/processes.ts'
import { expectedSpns, labAccount, sampleTopology } from '../deploy/lab/src/sample.ts'

/**
 * A half-dead lab comes back with one `npm run lab`, whatever died: each part in turn is killed
 * with SIGKILL (no clean-up of its own), then `lab up` must start it again, wait until every
 * service is ready again, say what it brought back, and leave a lab that answers through the CLI.
 */

const repo = resolve(import.meta.dirname, '..')
const node = join(repo, 'node_modules', '.bin', 'node')
const krbfleet = join(repo, 'cli', 'bin', 'krbfleet')

interface Run {
  code: number
  stdout: string
  stderr: string
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done) => {
    execFile(
      command,
      args,
      { cwd: repo, env, maxBuffer: 16 * 1024 * 1024, timeout: 240_000 },
      (error, stdout, stderr) =>
        done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    )
  })
}

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const match of text.matchAll(/^export ([A-Z0-9_]+)='((?:[^']|'\\'')*)'$/gm)) {
    if (match[1] && match[2] !== undefined) out[match[1]] = match[2].replaceAll("'\\''", "'")
  }
  return out
}

const firstAgent = `agent-${sampleTopology.servers[0]!.fqdn.split('.')[0]}`
const parts = ['nats', 'dc', 'topology', 'account', 'spn-sync', 'console', firstAgent]

test('npm run lab brings back a lab after any one part was killed with SIGKILL: nats, the DC, each service and an agent', async (t) => {
  const labDir = await mkdtemp(join(tmpdir(), 'krbfleet-lab-recovery-'))
  const env = { ...process.env, LAB_DIR: labDir }
  const lab = (verb: string) => run(node, [join(repo, 'deploy', 'lab', 'lab.ts'), verb], env)
  t.after(async () => {
    await lab('reset')
    await rm(labDir, { recursive: true, force: true })
  })
  const up = await lab('up')
  assert.equal(up.code, 0, up.stdout + up.stderr)
  const labEnv = parseEnvFile(await readFile(join(labDir, 'env'), 'utf8'))
  const cliEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...labEnv }

  for (const part of parts) {
    const record = await readPidRecord(join(labDir, 'run'), part)
    assert.ok(record, `${part} has a pid file`)
    process.kill(-record.pid, 'SIGKILL')
    while (await isAlive(record)) await sleep(20)

    const began = Date.now()
    const again = await lab('up')
    t.diagnostic(`${part} killed: lab up took ${((Date.now() - began) / 1000).toFixed(1)} s`)
    assert.equal(again.code, 0, `${part}: ${again.stdout}${again.stderr}`)
    assert.match(again.stdout, /partly up/, part)
    assert.match(
      again.stdout,
      new RegExp(`^lab: brought back .*\\b${part} \\(not running\\)`, 'm'),
      `${part}: the closing line names what was brought back\n${again.stdout}`,
    )
    const restarted = await readPidRecord(join(labDir, 'run'), part)
    assert.ok(restarted && restarted.pid !== record.pid && (await isAlive(restarted)), `${part} runs again`)

    const status = await lab('status')
    assert.equal(status.code, 0, `${part}: every part running and ready\n${status.stdout}`)
    const spnList = await run(krbfleet, ['spn', 'list', labAccount, '--json'], cliEnv)
    assert.equal(spnList.code, 0, `${part}: ${spnList.stdout}${spnList.stderr}`)
    const listed = new Set(
      (JSON.parse(spnList.stdout) as { spns: Array<{ spn: string }> }).spns.map((s) => s.spn.toLowerCase()),
    )
    for (const spn of expectedSpns())
      assert.ok(listed.has(spn.toLowerCase()), `${part}: ${labAccount} holds ${spn}`)
  }
})
