import type { TopologyDocument } from '@krbfleet/contracts'
import { type CliEnv, cli, runCli } from './cli.ts'
import { labDomain } from './dc.ts'
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
