import { execFile } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { TopologyDocument } from '@krbfleet/contracts'
import { type CliEnv, cli, runCli } from './cli.ts'
import { labDomain, probePrincipal, probeUser } from './dc.ts'
import { type LabLayout, writeFileAtomic } from './layout.ts'
import { expectedSpns, labAccount, sampleTopology } from './sample.ts'
import { checkInterrupted, LabPartError } from './wait.ts'

/**
 * Everything here goes through the krbfleet CLI, exactly as an operator would type it, so that
 * `npm run lab` is also a smoke test of the CLI -> console -> services path.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * First run: creates the Kerberos account (New-CsKerberosAccount) in the lab OU, applies the
 * sample topology with its two assignments, and enables it (Enable-CsTopology).
 */
export async function loadSample(
  layout: LabLayout,
  env: CliEnv,
  step: (line: string) => void,
): Promise<void> {
  const file = `${layout.root}/topology.json`
  await writeFileAtomic(file, `${JSON.stringify(sampleTopology, null, 2)}\n`)
  const accounts = JSON.parse(await cli(['account', 'list', '--json'], env)) as Array<{ account: string }>
  if (!accounts.some((a) => a.account.toUpperCase() === labAccount)) {
    step(`creating the Kerberos account ${labAccount} in ${labDomain.accountsOu}`)
    await cli(['account', 'new', labAccount, '--container-dn', labDomain.accountsOu], env)
  }
  step(
    `loading the sample topology (${sampleTopology.sites.length} sites, ${sampleTopology.pools.length} pools, ${sampleTopology.servers.length} servers, ${labAccount} assigned to both sites)`,
  )
  await cli(['topology', 'apply', '-f', file], env)
  step('enabling the topology')
  await cli(['topology', 'enable'], env)
}

/**
 * Rotates the lab account once (Set-CsKerberosAccountPassword: `krbfleet password set`), so that a
 * new user sees the two-phase rotation reach every agent. Prints the CLI's result table; a
 * rotation that leaves servers behind is reported, not fatal (the agents catch up by themselves).
 */
export async function rotateOnce(
  env: CliEnv,
  step: (line: string) => void,
  print: (line: string) => void,
): Promise<void> {
  step(`rotating the password of ${labAccount} on AD and every agent (krbfleet password set ${labAccount})`)
  const result = await runCli(['password', 'set', labAccount], env)
  for (const line of result.stdout.trimEnd().split('\n')) print(`  ${line}`)
  if (result.code === 1)
    print('lab: the rotation left servers behind (named above); their agents catch up by themselves')
  else if (result.code !== 0) {
    throw new LabPartError(
      'lab',
      `krbfleet password set ${labAccount} exited with ${result.code}: ${result.stderr.trim()}`,
    )
  }
}

/**
 * Test-CsKerberosAccountAssignment for every site, as a new user would run it: the lab user takes a
 * ticket (kinit, into the cache the env file names, so the operator has one too), then
 * `krbfleet test assignment --site S --endpoints servers.json --report reports/S.html` probes every
 * keytab server's Apache as the probe identity (its keytab in secrets/). One line per site, the
 * report's path beside it; problems found are reported, not fatal.
 */
export async function testAssignments(
  layout: LabLayout,
  env: CliEnv & { KRB5_CONFIG: string; KRB5CCNAME: string },
  user: { principal: string; password: string },
  sites: string[],
  step: (line: string) => void,
  print: (line: string) => void,
): Promise<void> {
  step(`taking a ticket for ${user.principal} and testing each site's assignment (krbfleet test assignment)`)
  await kinit(env, user)
  await mkdir(layout.reports, { recursive: true })
  for (const site of sites) {
    const report = join(layout.reports, `${site}.html`)
    const args = [
      ...['test', 'assignment', '--site', site, '--endpoints', layout.serversFile, '--report', report],
      ...['--probe-keytab', join(layout.secrets, probeUser.keytab), '--probe-principal', probePrincipal],
    ]
    const result = await runCli([...args, '--json'], env)
    if (result.code === 2 || !result.stdout.trim()) {
      throw new LabPartError(
        'lab',
        `krbfleet ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim()}`,
      )
    }
    const { outcome, servers } = JSON.parse(result.stdout) as {
      outcome: string
      servers: Array<{ status: string; probe: string }>
    }
    const answered = servers.filter((s) => s.probe.startsWith('200 ')).length
    print(
      `  test assignment ${site}: ${outcome}; ${answered}/${servers.length} servers answered 200 to Negotiate (the iis ones are not probed); report ${report}`,
    )
  }
}

function kinit(
  env: { KRB5_CONFIG: string; KRB5CCNAME: string },
  user: { principal: string; password: string },
) {
  return new Promise<void>((resolve, reject) => {
    const child = execFile(
      'kinit',
      [user.principal],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 30_000 },
      (error, _stdout, stderr) =>
        error
          ? reject(new LabPartError('lab', `kinit ${user.principal}: ${stderr.trim() || error.message}`))
          : resolve(),
    )
    child.stdin?.end(`${user.password}\n`)
  })
}

interface PlanView {
  revision: number
  accounts: Array<{ account: string; add: string[]; remove: string[]; conflicts: unknown[] }>
}

/**
 * Waits until spn-sync has made AD match the enabled revision: `krbfleet spn plan` shows nothing to
 * add or remove for any account (conflicts are reported, not waited on).
 */
export async function waitForSpns(env: CliEnv, log: string, timeoutMs = 60_000): Promise<PlanView> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    checkInterrupted()
    // A service that just reconnected may miss one request: only the deadline ends the wait.
    let seen: string
    try {
      const plan = JSON.parse(await cli(['spn', 'plan', '--json'], env)) as PlanView
      const pending = plan.accounts.filter((a) => a.add.length > 0 || a.remove.length > 0)
      if (pending.length === 0 && plan.revision > 0) return plan
      const what = pending.map((a) => `${a.account}: +${a.add.length} -${a.remove.length}`).join(', ')
      seen = `AD does not match topology revision ${plan.revision} (${what || 'no revision'})`
    } catch (error) {
      seen = `no plan: ${error instanceof Error ? error.message : String(error)}`
    }
    if (Date.now() > deadline) throw new LabPartError('spn-sync', `after ${timeoutMs / 1000} s, ${seen}`, log)
    await sleep(300)
  }
}

export interface EnabledTopology {
  revision: number
  topology: TopologyDocument
}

export async function enabledTopology(env: CliEnv): Promise<EnabledTopology> {
  const view = JSON.parse(await cli(['topology', 'show', '--source', 'enabled', '--json'], env)) as {
    revision: number
    topology: TopologyDocument
  }
  return { revision: view.revision, topology: view.topology }
}

/** `krbfleet spn list DOMAIN\NAME --json` (setspn -L): the SPNs the account holds in AD. */
export async function accountSpns(env: CliEnv, account: string): Promise<string[]> {
  const view = JSON.parse(await cli(['spn', 'list', account, '--json'], env)) as {
    spns: Array<{ spn: string }>
  }
  return view.spns.map((s) => s.spn)
}

/** After the first load: `krbfleet spn list` (setspn -L) shows every SPN the sample asks for on the account. */
export async function checkSampleSpns(env: CliEnv, log: string): Promise<void> {
  const held = new Set((await accountSpns(env, labAccount)).map((spn) => spn.toLowerCase()))
  const missing = expectedSpns().filter((spn) => !held.has(spn.toLowerCase()))
  if (missing.length > 0) {
    throw new LabPartError(
      'spn-sync',
      `${labAccount} lacks ${missing.length} SPN(s): ${missing.join(', ')}`,
      log,
    )
  }
}
