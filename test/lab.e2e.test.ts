import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { readKeytabFile } from '@krbfleet/kerberos'
import { connect } from '@nats-io/transport-node'
import { loopbackAddresses } from '@krbfleet/testing'
import { isAlive, listPidRecords, type PidRecord, readPidRecord } from '../deploy/lab/src/processes.ts'
import { expectedSpns, labAccount, sampleTopology } from '../deploy/lab/src/sample.ts'

/**
 * The lab as an operator runs it: `node deploy/lab/lab.ts up|down|reset` (npm run lab, lab:down,
 * lab:reset) in a temporary LAB_DIR, so that a developer's own .lab is never touched. Checks go
 * through the CLI (cli/bin/krbfleet with the values of the lab's env file) and the HTTP API.
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

/** `export NAME='value'` lines of .lab/env. */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const match of text.matchAll(/^export ([A-Z0-9_]+)='((?:[^']|'\\'')*)'$/gm)) {
    if (match[1] && match[2] !== undefined) out[match[1]] = match[2].replaceAll("'\\''", "'")
  }
  return out
}

async function noneAlive(records: PidRecord[]): Promise<string[]> {
  const alive: string[] = []
  for (const record of records) if (await isAlive(record)) alive.push(`${record.name} (pid ${record.pid})`)
  return alive
}

test('npm run lab: a failing part is named with its log and nothing is left running; then the whole system comes up, answers through the CLI and the API, reports its status when run again, and lab:down leaves no process and no loopback address behind', async (t) => {
  const labDir = await mkdtemp(join(tmpdir(), 'krbfleet-lab-e2e-'))
  const env = { ...process.env, LAB_DIR: labDir }
  const lab = (verb: string) => run(node, [join(repo, 'deploy', 'lab', 'lab.ts'), verb], env)
  t.after(async () => {
    await lab('reset')
    await rm(labDir, { recursive: true, force: true })
  })
  const runDir = join(labDir, 'run')
  const onLoBefore = await loopbackAddresses()

  // 1. A broken key-encryption key makes the account service refuse to start.
  await mkdir(join(labDir, 'secrets'), { recursive: true, mode: 0o700 })
  await writeFile(join(labDir, 'secrets', 'kek'), 'not-a-key\n', { mode: 0o600 })
  const broken = await lab('up')
  assert.equal(broken.code, 1, broken.stdout + broken.stderr)
  assert.match(broken.stderr, /^account: exited before ready/m, broken.stderr)
  assert.ok(broken.stderr.includes(join(labDir, 'logs', 'account.log')), 'names the log of the failed part')
  assert.match(broken.stdout, /stopping what this run started: nats, dc, topology/)
  assert.deepEqual(await listPidRecords(runDir), [], 'no pid file left')
  assert.match(await readFile(join(labDir, 'logs', 'account.log'), 'utf8'), /key-encryption key/)

  // 2. With the key removed, the lab makes a new one and everything comes up.
  await rm(join(labDir, 'secrets', 'kek'))
  const began = Date.now()
  const up = await lab('up')
  assert.equal(up.code, 0, up.stdout + up.stderr)
  t.diagnostic(`lab up in ${((Date.now() - began) / 1000).toFixed(1)} s`)
  assert.match(up.stdout, /krbfleet lab is up/)
  assert.match(up.stdout, /console\s+http:\/\/127\.0\.0\.1:\d+/)
  assert.match(up.stdout, /token\s+viewer:\s+\S+/)
  assert.match(up.stdout, /^\s+operator: \S+/m)
  assert.match(up.stdout, /^\s+admin:\s+\S+/m)
  // The start rotated the account once (krbfleet password set), on every agent.
  assert.match(up.stdout, /rotating the password of CORP\\KERBAUTH on AD and every agent/)
  const rotated = /6\/6 server\(s\) hold kvno (\d+)/.exec(up.stdout)
  assert.ok(rotated, `the rotation reached the six servers:\n${up.stdout}`)
  const rotatedKvno = Number(rotated[1])
  const started = await listPidRecords(runDir)
  // One agent process per sample server (services/iis-agent), each with its own 0600 key file.
  const agentParts = sampleTopology.servers.map((s) => `agent-${s.fqdn.split('.')[0]}`)
  const webParts = sampleTopology.servers
    .filter((s) => s.backend === 'keytab')
    .map((s) => `web-${s.fqdn.split('.')[0]}`)
  assert.deepEqual(
    started.map((r) => r.name).sort(),
    ['account', 'console', 'dc', 'nats', 'spn-sync', 'topology', ...agentParts, ...webParts].sort(),
  )
  for (const server of sampleTopology.servers) {
    const keyFile = join(labDir, 'agents', server.fqdn.split('.')[0]!, 'agent-key.pem')
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600, `${keyFile} is 0600`)
  }
  // Every agent enrolled with its one-time token (then deleted) and received the account's key:
  // a keytab on the keytab servers, the pools' identity in applicationHost.config on the iis ones.
  for (const server of sampleTopology.servers) {
    const dir = join(labDir, 'agents', server.fqdn.split('.')[0]!)
    assert.equal(existsSync(join(dir, 'enrol-token')), false, `${dir}: the used token is gone`)
    const holds = async () => {
      if (server.backend === 'keytab') {
        const web = join(labDir, 'web', server.fqdn.split('.')[0]!, 'keytab', 'http.keytab')
        const entries = await readKeytabFile(web).catch(() => [])
        return entries.some((e) => e.principal.components[0] === 'KERBAUTH$' && e.kvno === rotatedKvno)
      }
      const config = await readFile(join(dir, 'applicationHost.config'), 'utf8').catch(() => '')
      return config.includes('userName="CORP\\KERBAUTH$"')
    }
    for (let i = 0; i < 300 && !(await holds()); i++) await sleep(100)
    assert.ok(await holds(), `${server.fqdn} (${server.backend}) holds the credential of KERBAUTH`)
  }

  const envFile = join(labDir, 'env')
  assert.equal((await stat(envFile)).mode & 0o777, 0o600, '.lab/env holds secrets: mode 0600')
  const labEnv = parseEnvFile(await readFile(envFile, 'utf8'))
  for (const name of ['KRBFLEET_URL', 'KRBFLEET_TOKEN', 'KRB5_CONFIG', 'LAB_USER', 'LAB_PASSWORD']) {
    assert.ok(labEnv[name], `.lab/env exports ${name}`)
  }
  assert.ok(existsSync(labEnv.KRB5_CONFIG!), 'KRB5_CONFIG names an existing krb5.conf')
  // The lab's NATS runs deploy/nats's users: no anonymous client, and a wrong password is refused.
  await assert.rejects(
    connect({ servers: labEnv.LAB_NATS_URL!, reconnect: false }),
    /Authorization Violation/i,
  )
  await assert.rejects(
    connect({ servers: labEnv.LAB_NATS_URL!, user: 'krbfleet-console', pass: 'guess', reconnect: false }),
    /Authorization Violation/i,
  )
  for (const secret of [
    'kek',
    'console-tokens.json',
    'admin.token',
    'ldap-account.password',
    'probe.keytab',
  ]) {
    assert.equal((await stat(join(labDir, 'secrets', secret))).mode & 0o777, 0o600, `${secret} is 0600`)
  }
  const hashed = await readFile(join(labDir, 'secrets', 'console-tokens.json'), 'utf8')
  assert.ok(!hashed.includes(labEnv.KRBFLEET_TOKEN!), 'the console is given hashed tokens only')

  const servers = JSON.parse(await readFile(join(labDir, 'servers.json'), 'utf8')) as {
    servers: Array<{
      fqdn: string
      pool: string
      backend: string
      web: { address: string; port: number } | null
      curl?: string
    }>
  }
  assert.deepEqual(
    servers.servers.map((s) => [s.fqdn, s.pool, s.backend, s.web === null]),
    sampleTopology.servers.map((s) => [s.fqdn, s.pool, s.backend, s.backend === 'iis']),
    'every keytab server has its web server address:port',
  )

  // The lab's identities were given their passwords over LDAPS (never on a samba-tool command
  // line): the lab user's, from .lab/env, gets a ticket from the KDC.
  const kinit = await new Promise<Run>((done) => {
    const child = execFile(
      'kinit',
      [labEnv.LAB_USER!],
      {
        env: {
          ...process.env,
          KRB5_CONFIG: labEnv.KRB5_CONFIG,
          KRB5CCNAME: `FILE:${join(labDir, 'cc-e2e')}`,
        },
      },
      (error, stdout, stderr) => done({ code: error ? 1 : 0, stdout, stderr }),
    )
    child.stdin?.end(`${labEnv.LAB_PASSWORD}\n`)
  })
  assert.equal(kinit.code, 0, `kinit ${labEnv.LAB_USER}: ${kinit.stderr}`)

  // The lab serves Kerberos for real: each keytab server's Apache answers the printed curl line
  // (and every line of servers.json) with 200 for the lab user's ticket; 401 without one.
  const printed = /^\s+(curl --negotiate .*?)\s+# 200$/m.exec(up.stdout)
  assert.ok(printed, `the summary prints a curl line:\n${up.stdout}`)
  const curl = (line: string, cache: string) =>
    run('sh', ['-c', line], { ...process.env, KRB5_CONFIG: labEnv.KRB5_CONFIG, KRB5CCNAME: `FILE:${cache}` })
  const lines = [printed[1]!, ...servers.servers.flatMap((s) => (s.curl ? [s.curl] : []))]
  for (const line of lines) {
    assert.equal((await curl(line, join(labDir, 'cc-e2e'))).stdout.trim(), '200', line)
    assert.equal((await curl(line, join(labDir, 'cc-none'))).stdout.trim(), '401', `${line} without a ticket`)
  }

  // The first start tested every site's assignment as the probe identity (report pages left
  // in reports/) and printed the dashboard, which the console serves.
  for (const site of sampleTopology.sites.map((x) => x.name)) {
    assert.match(
      up.stdout,
      new RegExp(`^  test assignment ${site}: (pass|unknown); [1-9]\\d*/\\d+ servers answered 200`, 'm'),
    )
    assert.match(
      await readFile(join(labDir, 'reports', `${site}.html`), 'utf8'),
      /probed as krbprobe@CORP\.EXAMPLE\.COM \(keytab /,
    )
    assert.match(
      await readFile(join(labDir, 'reports', `${site}.html`), 'utf8'),
      new RegExp(`<h1>Site ${site}: `),
    )
  }
  const dashboard = /^ {2}dashboard (http:\/\/\S+\/dashboard\/)/m.exec(up.stdout)
  assert.ok(dashboard, `the summary prints the dashboard:\n${up.stdout}`)
  const page = await fetch(dashboard[1]!)
  assert.equal(page.status, 200)
  assert.match(await page.text(), /<title>krbfleet<\/title>/)

  // 3. The CLI, configured only by .lab/env, sees the pool SPNs on the account (setspn -L).
  const cliEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...labEnv }
  const spnList = await run(krbfleet, ['spn', 'list', labAccount, '--json'], cliEnv)
  assert.equal(spnList.code, 0, spnList.stdout + spnList.stderr)
  const listed = new Set(
    (JSON.parse(spnList.stdout) as { spns: Array<{ spn: string }> }).spns.map((s) => s.spn.toLowerCase()),
  )
  for (const spn of expectedSpns()) assert.ok(listed.has(spn.toLowerCase()), `${labAccount} holds ${spn}`)
  const human = await run(krbfleet, ['spn', 'list', labAccount], cliEnv)
  assert.equal(human.code, 0, human.stderr)
  assert.match(human.stdout, /HTTP\/pool01\.corp\.example\.com/i)

  // 4. The API answers with the operator's token: the enabled topology is the sample.
  const response = await fetch(`${labEnv.KRBFLEET_URL}/v1/topology?source=enabled`, {
    headers: { authorization: `Bearer ${labEnv.KRBFLEET_OPERATOR_TOKEN}` },
  })
  assert.equal(response.status, 200)
  const view = (await response.json()) as {
    topology: { sites: unknown[]; pools: unknown[]; servers: unknown[] }
  }
  assert.equal(view.topology.sites.length, 2)
  assert.equal(view.topology.pools.length, 3)
  assert.equal(view.topology.servers.length, 6)
  // Every agent enrolled its key (enrolments are recorded in the draft).
  const draft = await fetch(`${labEnv.KRBFLEET_URL}/v1/topology`, {
    headers: { authorization: `Bearer ${labEnv.KRBFLEET_OPERATOR_TOKEN}` },
  })
  assert.equal(draft.status, 200)
  const enrolled = ((await draft.json()) as { topology: { agents: Array<{ server: string }> } }).topology
    .agents
  assert.deepEqual(enrolled.map((a) => a.server).sort(), sampleTopology.servers.map((s) => s.fqdn).sort())
  const anonymous = await fetch(`${labEnv.KRBFLEET_URL}/v1/topology`)
  assert.equal(anonymous.status, 401, 'no token, no answer')

  // 5. Running it again while up prints the status of each part and changes nothing.
  const again = await lab('up')
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stdout, /already up/)
  for (const part of ['nats', 'dc', 'topology', 'account', 'spn-sync', 'console', ...agentParts]) {
    assert.match(again.stdout, new RegExp(`^\\s+${part}\\s+running, ready`, 'm'), `status of ${part}`)
  }
  assert.deepEqual(
    (await listPidRecords(runDir)).map((r) => [r.name, r.pid]),
    started.map((r) => [r.name, r.pid]),
    'the same processes, none restarted',
  )

  // 6. lab:down stops every process it started.
  const down = await lab('down')
  assert.equal(down.code, 0, down.stderr)
  assert.deepEqual(await noneAlive(started), [], 'nothing the lab started is still alive')
  assert.deepEqual(await listPidRecords(runDir), [])
  // The DC's loopback address leaves lo with it (unless it was there before the lab came up).
  const dcAddress = labEnv.LAB_DC_ADDRESS!
  if (!onLoBefore.has(dcAddress)) {
    assert.equal((await loopbackAddresses()).has(dcAddress), false, `${dcAddress} is removed from lo`)
  } else {
    t.diagnostic(`${dcAddress} was on lo before the lab came up: left alone`)
  }
  const status = await lab('status')
  assert.equal(status.code, 1)
  assert.match(status.stdout, /nats\s+not running/)
})

/**
 * A half-dead lab comes back with one `npm run lab`, whatever died: each part in turn is killed
 * with SIGKILL (no clean-up of its own), then `lab up` must start it again, wait until every
 * service is ready again, say what it brought back, and leave a lab that answers through the CLI.
 * It lives in this file because a lab owns fixed ports and loopback addresses: two labs at once
 * (node --test runs files in parallel) would fight over them.
 */
const firstAgent = `agent-${sampleTopology.servers[0]!.fqdn.split('.')[0]}`
const firstWeb = `web-${sampleTopology.servers.find((s) => s.backend === 'keytab')!.fqdn.split('.')[0]}`
const parts = ['nats', 'dc', 'topology', 'account', 'spn-sync', 'console', firstAgent, firstWeb]

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
