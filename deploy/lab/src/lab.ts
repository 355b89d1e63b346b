import { existsSync } from 'node:fs'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { lock, requireCommands, unlock } from '@krbfleet/testing'
import { prepareAgents } from './agents.ts'
import { cliPresent } from './cli.ts'
import {
  dcReady,
  labDc,
  labDomain,
  labUser,
  prepareDcFolder,
  prepareDirectory,
  releaseDcAddress,
  startDetachedDc,
} from './dc.ts'
import { ensureFolders, type LabLayout, labLayout, repoRoot, writeFileAtomic } from './layout.ts'
import { bootstrapLabStreams, natsReady, natsUrl, startLabNats } from './nats.ts'
import { isAlive, listPidRecords, type PidRecord, readPidRecord, stopProcess } from './processes.ts'
import {
  accountSpns,
  checkSampleSpns,
  type EnabledTopology,
  enabledTopology,
  loadSample,
  rotateOnce,
  testAssignments,
  waitForSpns,
} from './load.ts'
import { labAccount, serversFile } from './sample.ts'
import { ensureSecrets, type LabTokens, signerPublicKey } from './secrets.ts'
import {
  presentServices,
  type ServiceContext,
  type ServiceSpec,
  serviceReady,
  startService,
  webPortName,
} from './services.ts'
import { allocatePorts, type LabState, port, readState, writeState } from './state.ts'
import { checkInterrupted, LabPartError, setInterruption } from './wait.ts'

/** Where progress lines go (stdout in lab.ts, a buffer in tests). */
export type Print = (line: string) => void

export interface LabOptions {
  /** The lab folder; `LAB_DIR` or `<repo>/.lab`. */
  root: string
  print: Print
  /** Aborts `up` (lab.ts wires Ctrl-C and SIGTERM to it); what was started is stopped again. */
  signal?: AbortSignal
}

export function defaultLabRoot(env: NodeJS.ProcessEnv): string {
  return resolve(env.LAB_DIR ?? resolve(repoRoot, '.lab'))
}

/** The parts of the lab in start order; `down` stops them in reverse. */
function partNames(services: ServiceSpec[]): string[] {
  return ['nats', 'dc', ...services.map((s) => s.name)]
}

export interface PartStatus {
  name: string
  record: PidRecord | undefined
  alive: boolean
  ready: boolean
  where: string
}

const show = (path: string) => {
  const rel = relative(process.cwd(), path)
  return rel.startsWith('..') ? path : rel
}

async function partStatuses(
  layout: LabLayout,
  state: LabState,
  services: ServiceSpec[],
): Promise<PartStatus[]> {
  const out: PartStatus[] = []
  const dc = labDc(layout, state)
  for (const name of partNames(services)) {
    const record = await readPidRecord(layout.run, name)
    const alive = record ? await isAlive(record) : false
    let ready = false
    let where = ''
    if (name === 'nats') {
      where = state.ports.nats ? natsUrl(state) : ''
      ready = alive && (await natsReady(state))
    } else if (name === 'dc') {
      where = state.dcAddress ? dc.ldapsUrl : ''
      ready = alive && (await dcReady(dc))
    } else {
      const spec = services.find((s) => s.name === name)
      if (spec?.ports.every((p) => state.ports[p] !== undefined)) {
        where = name === 'console' && state.ports.console ? consoleUrl(state) : spec.readyUrl(state)
        ready = alive && (await serviceReady(spec, state))
      }
    }
    out.push({ name, record, alive, ready, where })
  }
  return out
}

function printStatuses(print: Print, statuses: PartStatus[], layout: LabLayout): void {
  for (const s of statuses) {
    const pid = s.record ? `pid ${s.record.pid}` : 'no pid file'
    const state = s.alive ? (s.ready ? 'running, ready' : 'running, NOT ready') : 'not running'
    print(`  ${s.name.padEnd(9)} ${state.padEnd(18)} ${pid.padEnd(11)} ${s.where}`.trimEnd())
    if (s.alive && !s.ready) print(`            log: ${show(`${layout.logs}/${s.name}.log`)}`)
  }
}

export function consoleUrl(state: LabState): string {
  return `http://127.0.0.1:${port(state, 'console')}`
}

/** `lab status`: one line per part. Resolves true when every part runs and is ready. */
export async function status(options: LabOptions): Promise<boolean> {
  const layout = labLayout(options.root)
  if (!existsSync(layout.root)) {
    options.print(`krbfleet lab: nothing in ${show(layout.root)} (run: npm run lab)`)
    return false
  }
  const state = await readState(layout)
  const statuses = await partStatuses(layout, state, presentServices())
  options.print(`krbfleet lab in ${show(layout.root)}:`)
  printStatuses(options.print, statuses, layout)
  return statuses.every((s) => s.alive && s.ready)
}

/**
 * `npm run lab`: starts what is not running, in order, waiting for each to be ready; loads the
 * sample topology; writes .lab/env and .lab/servers.json; prints a summary. When everything is
 * already up it only prints the status. On a failure it stops what THIS run started and throws a
 * LabPartError naming the part and its log.
 */
async function upUnlocked(options: LabOptions): Promise<void> {
  const { print } = options
  const layout = labLayout(options.root)
  const began = Date.now()
  setInterruption(options.signal)
  const step = (line: string) => {
    checkInterrupted()
    print(`lab: ${line} (${((Date.now() - began) / 1000).toFixed(1)} s)`)
  }
  print(`krbfleet lab in ${show(layout.root)}`)
  step('checking the Debian packages')
  await requireCommands(['nats-server', 'samba', 'samba-tool', 'kinit', 'ip'])
  await ensureFolders(layout)
  const state = await readState(layout)
  const services = presentServices()
  const statuses = await partStatuses(layout, state, services)
  const running = statuses.filter((s) => s.alive)
  if (statuses.every((s) => s.alive && s.ready)) {
    print('krbfleet lab is already up:')
    printStatuses(print, statuses, layout)
    if (existsSync(layout.envFile)) print(`  source ${show(layout.envFile)} to use the CLI against it`)
    return
  }
  if (running.length > 0) {
    print('krbfleet lab is partly up:')
    printStatuses(print, statuses, layout)
    print('starting the parts that are not running')
    // Parts added to the lab since lab.json was written (the agents) have no port yet.
    const unallocated = services.flatMap((s) => s.ports).filter((p) => state.ports[p] === undefined)
    if (unallocated.length > 0) await allocatePorts(state, unallocated)
  } else {
    await allocatePorts(state, ['nats', 'natsMonitor', ...services.flatMap((s) => s.ports)])
  }

  // Parts stopped by this run to be started again (a service still aimed at a DC that moved).
  const restarting = new Set<string>()
  const isRunning = (name: string) => running.some((s) => s.name === name) && !restarting.has(name)
  const started: PidRecord[] = []
  /** What a half-up lab needed, for the closing line: `nats (not running)`, `spn-sync (not ready)`. */
  const broughtBack: string[] = []
  const note = (name: string, why: string) => {
    if (running.length > 0) broughtBack.push(`${name} (${why})`)
  }
  try {
    if (!isRunning('nats')) {
      note('nats', 'not running')
      step(`starting nats-server with JetStream on ${natsUrl(state)} (deploy/nats users and permissions)`)
      started.push(await startLabNats(layout, state))
    }
    // As in production: only the bootstrap identity creates streams and buckets; services verify them.
    await bootstrapLabStreams(layout, state)

    if (!isRunning('dc')) {
      note('dc', 'not running')
      const addressBefore = state.dcAddress
      const first = !existsSync(labDc(layout, state).smbConf)
      step(first ? 'copying the Samba AD DC from the harness template' : 'checking the Samba AD DC')
      await prepareDcFolder(layout, state, async (dc) => {
        if (state.directoryPrepared) return
        step(
          `preparing the directory: ${labDomain.accountsOu}, least-privilege service identities, ${labUser.sam}`,
        )
        await prepareDirectory(layout, dc)
        state.directoryPrepared = true
      })
      await writeState(layout, state)
      const dc = labDc(layout, state)
      step(`starting the Samba AD DC on ${dc.address} (realm ${labDomain.realm})`)
      started.push(await startDetachedDc(layout, dc))
      if (addressBefore !== undefined && addressBefore !== dc.address) {
        // The services were given the DC's URL at start: those that bind LDAP must start again.
        for (const spec of services.filter((s) => isRunning(s.name) && usesLdap(s, layout, state))) {
          step(`stopping ${spec.name}: the DC moved from ${addressBefore} to ${dc.address}`)
          const record = await readPidRecord(layout.run, spec.name)
          if (record) await stopPart(layout, state, record)
          restarting.add(spec.name)
          note(spec.name, `restarted for the DC on ${dc.address}`)
        }
      }
    }
    await writeState(layout, state)

    const tokens = await ensureSecrets(layout)
    const context: ServiceContext = {
      layout,
      state,
      dc: labDc(layout, state),
      signerPublicKey: await signerPublicKey(layout),
    }
    for (const spec of services.filter((s) => !s.afterTopology)) {
      if (isRunning(spec.name)) continue
      if (!restarting.has(spec.name)) note(spec.name, 'not running')
      step(`starting ${spec.name}`)
      started.push(await startService(spec, context))
    }
    await settle(
      services.filter((s) => !s.afterTopology && isRunning(s.name)),
      context,
      step,
      note,
      started,
    )
    const missing = ['topology', 'account', 'spn-sync', 'console'].filter(
      (n) => !services.some((s) => s.name === n),
    )
    if (missing.length > 0) print(`lab: not in this checkout yet, skipped: ${missing.join(', ')}`)

    await writeEnvFile(layout, state, tokens)

    if (services.some((s) => s.name === 'console') && cliPresent()) {
      const env = { KRBFLEET_URL: consoleUrl(state), KRBFLEET_TOKEN: tokens.admin }
      const firstLoad = !state.sampleLoaded
      if (firstLoad) {
        await loadSample(layout, env, step)
        state.sampleLoaded = true
        await writeState(layout, state)
      } else {
        step('keeping the topology of the last run (npm run lab:reset starts from the sample again)')
      }
      // Agents are ready once enrolled, which needs their servers in the topology: started now, together.
      const agents = services.filter((s) => s.afterTopology && !isRunning(s.name))
      await settle(
        services.filter((s) => s.afterTopology && isRunning(s.name)),
        context,
        step,
        note,
        started,
      )
      if (agents.length > 0) {
        await prepareAgents(agents, context, env, step)
        for (const spec of agents) note(spec.name, 'not running')
        step(`starting ${agents.map((s) => s.name).join(', ')}`)
        const results = await Promise.allSettled(agents.map((spec) => startService(spec, context)))
        for (const result of results) if (result.status === 'fulfilled') started.push(result.value)
        const failed = results.find((r) => r.status === 'rejected')
        if (failed) throw failed.reason
      }
      step('waiting for spn-sync to make AD match the enabled topology')
      await waitForSpns(env, `${layout.logs}/spn-sync.log`)
      if (firstLoad) await checkSampleSpns(env, `${layout.logs}/spn-sync.log`)
      if (firstLoad && agents.length > 0) await rotateOnce(env, step, print)
      const current = await enabledTopology(env)
      const webOf = (fqdn: string) => {
        const webPort = state.ports[webPortName(fqdn)]
        return webPort === undefined ? null : { address: '127.0.0.1', port: webPort }
      }
      const servers = serversFile(current.topology, webOf)
      await writeFileAtomic(layout.serversFile, `${JSON.stringify(servers, null, 2)}\n`)
      if (firstLoad && agents.length > 0) {
        const password = (await readFile(`${layout.secrets}/${labUser.secret}`, 'utf8')).trim()
        await testAssignments(
          layout,
          { ...env, KRB5_CONFIG: labDc(layout, state).krb5Conf, KRB5CCNAME: labTicketCache(layout) },
          { principal: `${labUser.sam}@${labDomain.realm}`, password },
          current.topology.sites.map((s) => s.name),
          step,
          print,
        )
      }
      await printSummary(
        layout,
        state,
        tokens,
        current,
        print,
        servers.servers.find((s) => s.curl),
      )
      if (broughtBack.length > 0) print(`lab: brought back ${broughtBack.join(', ')}`)
    } else {
      await writeFileAtomic(layout.serversFile, `${JSON.stringify(serversFile(), null, 2)}\n`)
      print('lab: the console or the CLI is missing in this checkout: the sample topology was not loaded')
      const agents = services.filter((s) => s.afterTopology)
      if (agents.length > 0)
        print(
          `lab: agents not started (they enrol into that topology): ${agents.map((s) => s.name).join(', ')}`,
        )
    }
    step('ready')
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const part = error instanceof LabPartError ? error.part : 'lab'
    let stopped = ''
    if (started.length > 0) {
      print(`lab: FAILED; stopping what this run started: ${started.map((r) => r.name).join(', ')}`)
      for (const record of [...started].reverse()) await stopPart(layout, state, record)
      stopped = `\n  stopped what this run had started: ${started.map((r) => r.name).join(', ')}`
    }
    throw new LabPartError(part, `${message.replace(new RegExp(`^${part}: `), '')}${stopped}`)
  }
}

/** How long a running service may take to be ready again (reconnecting to NATS or the DC). */
const settleTimeoutMs = 30_000

/**
 * Waits until every part that was already running answers /readyz again (after NATS or the DC came
 * back they reconnect by themselves); one that does not within settleTimeoutMs is restarted.
 */
async function settle(
  specs: ServiceSpec[],
  context: ServiceContext,
  step: (line: string) => void,
  note: (name: string, why: string) => void,
  started: PidRecord[],
): Promise<void> {
  if (specs.length === 0) return
  const deadline = Date.now() + settleTimeoutMs
  let waiting = specs
  for (;;) {
    const ready = await Promise.all(waiting.map((spec) => serviceReady(spec, context.state)))
    waiting = waiting.filter((_, i) => !ready[i])
    if (waiting.length === 0 || Date.now() > deadline) break
    checkInterrupted()
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  for (const spec of waiting) {
    step(`restarting ${spec.name}: not ready (/readyz) after ${settleTimeoutMs / 1000} s`)
    const record = await readPidRecord(context.layout.run, spec.name)
    if (record) await stopPart(context.layout, context.state, record)
    note(spec.name, 'not ready, restarted')
    started.push(await startService(spec, context))
  }
}

function usesLdap(spec: ServiceSpec, layout: LabLayout, state: LabState): boolean {
  return 'KRBFLEET_LDAP_URL' in spec.env({ layout, state, dc: labDc(layout, state), signerPublicKey: '' })
}

async function stopPart(layout: LabLayout, state: LabState, record: PidRecord): Promise<string> {
  const outcome = await stopProcess(layout.run, record)
  if (record.name === 'dc' && state.dcAddress) await releaseDcAddress(state.dcAddress, record.pid)
  return outcome
}

/** The lab user's ticket cache: the env file's KRB5CCNAME, filled by the first start's kinit. */
const labTicketCache = (layout: LabLayout) => `FILE:${layout.root}/krb5cc`

function envLine(name: string, value: string): string {
  return `export ${name}='${value.replaceAll("'", "'\\''")}'`
}

async function writeEnvFile(layout: LabLayout, state: LabState, tokens: LabTokens): Promise<void> {
  const labPassword = (await readFile(`${layout.secrets}/${labUser.secret}`, 'utf8')).trim()
  const dc = labDc(layout, state)
  const lines = [
    '# krbfleet lab: `source .lab/env`, then use cli/bin/krbfleet (written by npm run lab; mode 0600).',
    ...(state.ports.console ? [envLine('KRBFLEET_URL', consoleUrl(state))] : []),
    `# admin token: topology and account changes; KRBFLEET_OPERATOR_TOKEN and KRBFLEET_VIEWER_TOKEN show the other roles.`,
    envLine('KRBFLEET_TOKEN', tokens.admin),
    envLine('KRBFLEET_OPERATOR_TOKEN', tokens.operator),
    envLine('KRBFLEET_VIEWER_TOKEN', tokens.viewer),
    envLine('KRB5_CONFIG', dc.krb5Conf),
    envLine('KRB5CCNAME', labTicketCache(layout)),
    envLine('LAB_USER', `${labUser.sam}@${labDomain.realm}`),
    envLine('LAB_PASSWORD', labPassword),
    envLine('LAB_DC_ADDRESS', dc.address),
    envLine('LAB_NATS_URL', natsUrl(state)),
    `export PATH=${JSON.stringify(`${repoRoot}/cli/bin`)}:"$PATH"`,
    '',
  ]
  await writeFileAtomic(layout.envFile, lines.join('\n'), 0o600)
}

async function printSummary(
  layout: LabLayout,
  state: LabState,
  tokens: LabTokens,
  current: EnabledTopology,
  print: Print,
  /** A keytab server whose Apache answers Negotiate for its pool. */
  web?: { fqdn: string; pool: string; curl?: string },
): Promise<void> {
  const env = { KRBFLEET_URL: consoleUrl(state), KRBFLEET_TOKEN: tokens.admin }
  const { topology } = current
  print('')
  print(`krbfleet lab is up (topology revision ${current.revision})`)
  print(`  sites     ${topology.sites.map((s) => s.name).join(', ')}`)
  for (const pool of topology.pools) {
    const servers = topology.servers.filter((s) => s.pool === pool.fqdn)
    print(
      `  pool      ${pool.fqdn} (site ${pool.site}): ${servers.map((s) => `${s.fqdn} [${s.backend}]`).join(', ')}`,
    )
  }
  const accounts = [...new Set(topology.assignments.map((a) => a.account))]
  for (const account of accounts) {
    const sites = topology.assignments.filter((a) => a.account === account).map((a) => a.site)
    const spns = await accountSpns(env, account)
    print(`  account   ${account}, assigned to ${sites.join(', ')}; ${spns.length} SPNs:`)
    for (let i = 0; i < spns.length; i += 3) print(`              ${spns.slice(i, i + 3).join('  ')}`)
  }
  print(`  console   ${consoleUrl(state)}  (OpenAPI: ${consoleUrl(state)}/docs)`)
  print(`  dashboard ${consoleUrl(state)}/dashboard/  (sign in with a token below)`)
  print(`  token     viewer:   ${tokens.viewer}`)
  print(`            operator: ${tokens.operator}`)
  print(`            admin:    ${tokens.admin}   (KRBFLEET_TOKEN in ${show(layout.envFile)})`)
  print(
    `  DC        ${labDc(layout, state).ldapsUrl}, realm ${labDomain.realm}, user ${labUser.sam}@${labDomain.realm}`,
  )
  print(`  logs      ${show(layout.logs)}/<part>.log`)
  if (web?.curl) {
    print(
      `  kerberos  ${web.fqdn}'s Apache (mod_auth_gssapi) serves ${web.pool}; every server: ${show(layout.serversFile)}`,
    )
    print(
      `              source ${show(layout.envFile)} && echo "$LAB_PASSWORD" | kinit "$LAB_USER" >/dev/null`,
    )
    print(`              ${web.curl}     # 200`)
  }
  print('')
  print(
    `next: source ${show(layout.envFile)} && krbfleet spn list '${labAccount}'   (tour: deploy/lab/README.md)`,
  )
}

/** `npm run lab:down`: stops every process the lab started (by pid file), services first. */
async function downUnlocked(options: LabOptions): Promise<void> {
  const layout = labLayout(options.root)
  const state = existsSync(layout.stateFile) ? await readState(layout) : { ports: {} }
  const records = await listPidRecords(layout.run)
  if (records.length === 0) {
    options.print('krbfleet lab: nothing running')
    return
  }
  const order = partNames(presentServices())
  // Unknown names (a service removed from the checkout) first, then the known ones in reverse.
  const rank = (r: PidRecord) => {
    const index = order.indexOf(r.name)
    return index === -1 ? Number.MAX_SAFE_INTEGER : index
  }
  records.sort((a, b) => rank(b) - rank(a))
  for (const record of records) {
    const outcome = await stopPart(layout, state, record)
    options.print(`lab: ${record.name.padEnd(9)} ${outcome} (pid ${record.pid})`)
  }
}

/** `npm run lab:reset`: down, then deletes the lab folder (the DC, NATS store, secrets and logs). */
async function resetUnlocked(options: LabOptions): Promise<void> {
  await downUnlocked(options)
  const root = resolve(options.root)
  if (root === '/' || root === repoRoot || root === homedir()) {
    throw new Error(`refusing to delete ${root}: LAB_DIR must be a folder of its own`)
  }
  await rm(root, { recursive: true, force: true })
  options.print(`krbfleet lab: removed ${show(root)}`)
}

/**
 * One lab command at a time per lab folder: a second `npm run lab` waits for the first instead of
 * starting a second set of processes over the same pid files.
 */
async function withLabLock<T>(options: LabOptions, work: () => Promise<T>): Promise<T> {
  const root = resolve(options.root)
  await mkdir(root, { recursive: true })
  const lockDir = join(root, 'lab.lock')
  await lock(lockDir, 300_000, 'another lab command on this folder')
  try {
    return await work()
  } finally {
    await unlock(lockDir)
  }
}

export const up = (options: LabOptions) => withLabLock(options, () => upUnlocked(options))
export const down = (options: LabOptions) =>
  existsSync(options.root) ? withLabLock(options, () => downUnlocked(options)) : downUnlocked(options)
export const reset = (options: LabOptions) =>
  existsSync(options.root) ? withLabLock(options, () => resetUnlocked(options)) : resetUnlocked(options)
