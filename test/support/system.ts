/**
 * The whole krbfleet system for end-to-end tests, against ONE real nats-server and ONE real Samba
 * AD DC (@krbfleet/testing): topology, account and the console (listening on a loopback port, so
 * that the real `krbfleet` CLI talks to it over HTTP) run in this process, each on its own NATS
 * connection as in production; spn-sync runs as a child process so that a test can SIGKILL it.
 *
 * Nothing here mocks NATS, LDAP or the KDC. Waits are bounded polls of the final state of the world
 * (AD attributes, stream contents), never sleeps that a test's outcome depends on.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import type { RotationFailpoint } from '@krbfleet/account'
import {
  AccountRecordCodec,
  KekSecretBox,
  type RunningAccountService,
  startAccountService,
} from '@krbfleet/account'
import { type Bus, type ConnectBusOptions, callRpc, connectBus } from '@krbfleet/bus'
import {
  buildApp,
  busReaders,
  type ConsoleApp,
  hashToken,
  type RateLimitSettings,
  type TokenRecord,
} from '@krbfleet/console'
import { accountKey, buckets, type EventEnvelope, type TopologyDocument } from '@krbfleet/contracts'
import { escapeFilterValue } from '@krbfleet/directory'
import { createLogger, type Logger } from '@krbfleet/logging'
import {
  exportPrivateKey,
  generateKeyEncryptionKey,
  generateSignerKeyPair,
  parseKeyEncryptionKey,
  type SignerKeyPair,
} from '@krbfleet/sealing'
import type { Failpoint } from '@krbfleet/spn-sync'
import { adminClient, freePort, type NatsServer, startDc, startNats, type TestDc } from '@krbfleet/testing'
import { allStoredEvents } from '@krbfleet/testing/world'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'
import { observerUser } from '../../deploy/nats/src/loopback.ts'
import { type NatsUser, serviceUsers } from '../../deploy/nats/src/permissions.ts'
import { type GlobalNats, startGlobalNats } from './global-nats.ts'

export const repoRoot = resolve(import.meta.dirname, '..', '..')
export const cliBin = join(repoRoot, 'cli', 'bin', 'krbfleet')
export const nodeBin = process.execPath
/** Each service's process, and the same process with crash points (a test seam, not a setting). */
const serviceMains = {
  spnSync: {
    name: 'spn-sync',
    main: join(repoRoot, 'services', 'spn-sync', 'src', 'main.ts'),
    crashingMain: join(repoRoot, 'services', 'spn-sync', 'test', 'crashing-main.ts'),
  },
  account: {
    name: 'account',
    main: join(repoRoot, 'services', 'account', 'src', 'main.ts'),
    crashingMain: join(repoRoot, 'services', 'account', 'test', 'crashing-main.ts'),
  },
}
export type SpnSyncProcess = ServiceProcess<Failpoint>
export type AccountProcess = ServiceProcess<RotationFailpoint>

/** Console tokens of the system, one per role; the actor of a change is `token:<name>`. */
export const tokens = {
  admin: { name: 'ops-admin', secret: 'e2e-admin-token-4f0b9c1d2e3a', role: 'admin' },
  operator: { name: 'ops-operator', secret: 'e2e-operator-token-7a6b5c4d3e2f', role: 'operator' },
  viewer: { name: 'ops-viewer', secret: 'e2e-viewer-token-1a2b3c4d5e6f', role: 'viewer' },
} as const
export type Role = keyof typeof tokens

/** Everything the in-process services logged (JSON lines), to scan for secrets. */
export class LogCapture {
  readonly lines: string[] = []
  readonly stream = new Writable({
    write: (chunk, _encoding, done) => {
      this.lines.push(String(chunk))
      if (process.env.TEST_LOG) process.stderr.write(chunk)
      done()
    },
  })
  logger(name: string): Logger {
    return createLogger({ name, level: 'info', destination: this.stream })
  }
  text(): string {
    return this.lines.join('')
  }
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export interface ApiResult<T = unknown> {
  status: number
  body: T
}

/**
 * A service as its own process: its real `src/main.ts`, configured through its environment
 * (libs/runtime loadConfig; secrets as 0600 files), with fixtures/exit-with-parent.ts preloaded so
 * that it stops when the test process goes away. spn-sync runs so always; the account service when
 * a test asks (`accountProcess`), so that a test can SIGKILL either.
 */
export class ServiceProcess<Point extends string = string> {
  #child: ChildProcess | undefined
  #exited: Promise<unknown> = Promise.resolve()
  #port: number | undefined
  readonly #name: string
  readonly #main: string
  readonly #crashingMain: string
  readonly #env: NodeJS.ProcessEnv
  readonly #logFile: string

  constructor(
    service: { name: string; main: string; crashingMain: string },
    env: NodeJS.ProcessEnv,
    logFile: string,
  ) {
    this.#name = service.name
    this.#main = service.main
    this.#crashingMain = service.crashingMain
    this.#env = env
    this.#logFile = logFile
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  get logFile(): string {
    return this.#logFile
  }

  /** Its /healthz /readyz /metrics address while it runs. */
  get url(): string | undefined {
    return this.#port === undefined ? undefined : `http://127.0.0.1:${this.#port}`
  }

  /**
   * Starts it and resolves once its /readyz answers 200 (NATS and LDAP connected, consumers
   * running). `crashAt` runs it through the service's test/crashing-main.ts: the process SIGKILLs
   * itself at that point (spn-sync: after recording the intent, or after the LDAP modify before
   * confirming; account: at a rotation step).
   */
  async start(options: { crashAt?: Point; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
    assert.equal(this.running, false, `${this.#name} is already running`)
    const port = await freePort()
    this.#port = port
    const child = spawn(
      nodeBin,
      [
        '--import',
        join(import.meta.dirname, '..', 'fixtures', 'exit-with-parent.ts'),
        ...(options.crashAt ? [this.#crashingMain, options.crashAt] : [this.#main]),
      ],
      {
        env: {
          ...this.#env,
          ...options.env,
          KRBFLEET_HTTP_HOST: '127.0.0.1',
          KRBFLEET_HTTP_PORT: String(port),
        },
        stdio: ['pipe', 'pipe', 'pipe'],
        cwd: repoRoot,
      },
    )
    this.#child = child
    this.#exited = once(child, 'exit')
    child.stdin?.on('error', () => {})
    const log = createWriteStream(this.#logFile, { flags: 'a' })
    child.stdout?.pipe(log, { end: false })
    child.stderr?.pipe(log, { end: false })
    const deadline = Date.now() + 30_000
    for (;;) {
      if (!this.running) {
        throw new Error(
          `${this.#name} exited before it was ready; see ${this.#logFile}:\n${await tail(this.#logFile)}`,
        )
      }
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      )
      if (status === 200) return
      if (Date.now() > deadline) throw new Error(`${this.#name} not ready within 30 s; see ${this.#logFile}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Resolves when the process has exited (by itself, for example at a crash point). */
  async exited(): Promise<void> {
    await this.#exited
  }

  /** SIGKILL: no shutdown, no drain, no ack of anything in flight. */
  async kill(): Promise<void> {
    if (!this.running) return
    this.#child?.kill('SIGKILL')
    await this.#exited
  }

  /** SIGTERM: the orderly stop. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.#child?.kill('SIGTERM')
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), 5000)
    await this.#exited
    clearTimeout(timer)
    this.#child?.stdin?.destroy()
  }
}

export interface System {
  /** The nats-server (with `global`: hub-1). */
  nats: NatsServer
  /** The global deployment's servers, with `global`. */
  global: GlobalNats | undefined
  /** KRBFLEET_NATS_* of the agent of `server` (with `global`: its site's leaf, as its own user). */
  agentNatsEnv(server: string): Record<string, string>
  dc: TestDc
  /** The key-encryption key the account service runs with (the test may open sealed secrets). */
  kek: ReturnType<typeof parseKeyEncryptionKey>
  /** The account service's credential signing key: agents are given its public half. */
  signer: SignerKeyPair
  work: string
  logs: LogCapture
  spnSyncLog: string
  /** A client connection of the test itself (reads streams and KV). */
  bus: Bus
  topology: TopologyInstance
  /** The account service in this process (undefined with `accountProcess`). */
  account: RunningAccountService | undefined
  console: ConsoleApp
  consoleUrl: string
  spnSync: SpnSyncProcess
  /**
   * The account service as its own process (`accountProcess`), instead of `account`: started, and
   * restarted by the test at will.
   */
  accountProcess: AccountProcess | undefined
  /** Another spn-sync process with the same settings (not started; stopped with the system). */
  spnSyncReplica(logName: string): SpnSyncProcess
  /** Runs the real `krbfleet` bin against the console with the token of `role` (and `env` added). */
  cli(args: string[], role?: Role, env?: NodeJS.ProcessEnv): Promise<CliResult>
  /** One HTTP request to the console with the token of `role`. */
  api<T = unknown>(
    method: string,
    path: string,
    options?: { role?: Role; body?: unknown },
  ): Promise<ApiResult<T>>
  /** The servicePrincipalName values of `sAMAccountName` read by an admin ldapts client, sorted. */
  spnsOf(samAccountName: string): Promise<string[]>
  /** msDS-KeyVersionNumber of `sAMAccountName` read by an admin ldapts client. */
  kvnoOf(samAccountName: string): Promise<number>
  /** Every event stored in the events stream, in order. */
  events(): Promise<EventEnvelope[]>
  /** Every raw message of a stream, as text (`KV_<bucket>` for a bucket). */
  streamText(stream: string): Promise<string>
  /** The account's current password and kvno, opened from its KV record with the KEK. */
  accountSecret(account: string): Promise<{ password: string; kvno: number }>
  /** Polls until `condition` holds (bounded: fails with `what` after `timeoutMs`). */
  eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/** LDAP identities of the services (Administrator when not given). */
export interface SystemIdentities {
  /** The account service: StartTLS on 389 when `startTls`, LDAPS otherwise; new accounts go to `containerDn`. */
  account?: { bindDn: string; password: string; containerDn?: string; startTls?: boolean }
  spnSync?: { bindDn: string; password: string }
}

export interface StartSystemOptions {
  /** spn-sync's periodic resync (0: off, the default here, so that convergence comes from events). */
  resyncIntervalMs?: number
  /** Runs once the DC is up, before any service starts: creates the services' identities. */
  identities?: (dc: TestDc) => Promise<SystemIdentities>
  /** The console's per-token request budget (default: the product's default). */
  consoleRateLimit?: RateLimitSettings
  /**
   * Runs the account service as its own process (src/main.ts) with these extra settings
   * (KRBFLEET_ACCOUNT_* variables), so that a test can SIGKILL and restart it.
   */
  accountProcess?: { env?: NodeJS.ProcessEnv }
  /**
   * Runs NATS as deploy/nats's global deployment (test/support/global-nats.ts): three hubs, a leaf
   * node per site of `topology`, TLS and the generated users; the services connect to the hubs as
   * their own users, each agent (`agentNatsEnv`) to its site's leaf. Default: one nats-server.
   */
  global?: { topology: TopologyDocument }
  /** Extra arguments of the one nats-server (not the global deployment), e.g. a monitoring port. */
  natsArgs?: string[]
}

/** How the system's clients reach NATS: connectBus options and KRBFLEET_NATS_* settings per user. */
interface NatsAccess {
  options(user: string): Partial<ConnectBusOptions> & { servers: string | string[] }
  env(user: string): Record<string, string>
  agentEnv(server: string): Record<string, string>
}

function singleServerAccess(nats: NatsServer): NatsAccess {
  return {
    options: () => ({ servers: nats.url }),
    env: () => ({ KRBFLEET_NATS_URL: nats.url }),
    agentEnv: () => ({ KRBFLEET_NATS_URL: nats.url }),
  }
}

function globalAccess(global: GlobalNats): NatsAccess {
  const { deployment } = global
  const userOf = (name: string): NatsUser => {
    if (name === 'e2e-test-client') return observerUser()
    const user = serviceUsers().find((u) => u.user === name)
    assert.ok(user, `deploy/nats has a user ${name}`)
    return user
  }
  return {
    options: (name) => deployment.clientOptions(userOf(name), deployment.hubUrl),
    env: (name) => deployment.clientEnv(userOf(name), deployment.hubUrl),
    agentEnv: (server) => deployment.agentEnv(server),
  }
}

export async function startSystem(options: StartSystemOptions = {}): Promise<System> {
  const work = await mkdtemp(join(tmpdir(), 'krbfleet-e2e-'))
  const startBus = async (): Promise<{ nats: NatsServer; global?: GlobalNats }> => {
    if (!options.global) return { nats: await startNats({ dir: work, args: options.natsArgs ?? [] }) }
    const global = await startGlobalNats({ dir: join(work, 'nats'), topology: options.global.topology })
    return { nats: global.hubs[0]!, global }
  }
  const [{ nats, global }, dc] = await Promise.all([startBus(), startDc()])
  const access = global ? globalAccess(global) : singleServerAccess(nats)
  const logs = new LogCapture()
  const kekText = generateKeyEncryptionKey()
  const kek = parseKeyEncryptionKey(kekText, 'e2e test')
  const signer = generateSignerKeyPair()
  const started: Array<() => Promise<unknown>> = []
  const cleanup = async () => {
    for (const stop of started.reverse()) await stop().catch(() => {})
    await Promise.all([global ? global.stop() : nats.stop(), dc.stop()])
    await rm(work, { recursive: true, force: true })
  }
  try {
    const connect = (name: string) =>
      connectBus({
        ...access.options(name),
        name,
        logger: logs.logger(name),
        reconnectTimeWaitMs: 250,
        reconnectJitterMs: 100,
      })

    const identities = options.identities ? await options.identities(dc) : {}
    const accountLdap = identities.account ?? { bindDn: dc.adminDn, password: dc.adminPassword }
    const spnSyncLdap = identities.spnSync ?? { bindDn: dc.adminDn, password: dc.adminPassword }

    const topologyBus = await connect('krbfleet-topology')
    started.push(() => topologyBus.close())
    const topology = await startTopology({ bus: topologyBus, logger: logs.logger('topology') })
    started.push(() => topology.stop())

    const accountSettings = {
      nats: access.options('krbfleet-account'),
      ldap: {
        url: identities.account?.startTls ? dc.ldapUrl : dc.ldapsUrl,
        startTls: identities.account?.startTls ?? false,
        caFile: dc.caFile,
        servername: dc.tlsServername,
        bindDn: accountLdap.bindDn,
        password: accountLdap.password,
        timeoutMs: 10_000,
      },
      domain: { netbiosDomain: dc.netbiosDomain, dnsDomain: dc.dnsDomain },
      keyEncryptionKey: kek,
      signer: { privateKey: signer.privateKey, keyId: signer.keyId },
      maxPasswordAgeDays: 30,
      spnTimeoutMs: 5000,
      ...(identities.account?.containerDn ? { defaultContainerDn: identities.account.containerDn } : {}),
    }
    let account: RunningAccountService | undefined
    let accountProcess: AccountProcess | undefined
    if (options.accountProcess) {
      accountProcess = await startAccountProcess(work, dc, access, kekText, signer, accountLdap, {
        ...options.accountProcess.env,
      })
      const running = accountProcess
      started.push(() => running.stop())
    } else {
      const running = await startAccountService({ settings: accountSettings, logger: logs.logger('account') })
      account = running
      started.push(() => running.stop())
    }

    const spnSyncLog = join(work, 'spn-sync.log')
    const spnSyncEnv: NodeJS.ProcessEnv = {
      ...(await serviceEnv(work, 'spn-sync', dc, access, spnSyncLdap)),
      KRBFLEET_SPN_RESYNC_INTERVAL_MS: String(options.resyncIntervalMs ?? 0),
    }
    const spnSync: SpnSyncProcess = new ServiceProcess(serviceMains.spnSync, spnSyncEnv, spnSyncLog)
    await spnSync.start()
    started.push(() => spnSync.stop())
    /** Further replicas, stopped with the system. */
    const replicas: ServiceProcess[] = []
    started.push(() => Promise.all(replicas.map((r) => r.stop())))

    const consoleBus = await connect('krbfleet-console')
    started.push(() => consoleBus.close())
    const records: TokenRecord[] = Object.values(tokens).map((t) => ({
      name: t.name,
      role: t.role,
      sha256: hashToken(t.secret),
    }))
    const app = await buildApp(
      {
        logger: logs.logger('console'),
        tokens: records,
        rpc: (service, operation, body, rpcOptions) =>
          callRpc(consoleBus, service, operation, body, { timeoutMs: 30_000, ...rpcOptions }),
        publish: (e) => consoleBus.publish(e),
        ...busReaders(consoleBus),
        checks: { nats: () => consoleBus.isConnected() },
      },
      options.consoleRateLimit === undefined ? {} : { rateLimit: options.consoleRateLimit },
    )
    started.push(() => app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const address = app.server.address()
    if (address === null || typeof address === 'string') throw new Error('the console has no TCP address')
    const consoleUrl = `http://127.0.0.1:${address.port}`

    const bus = await connect('e2e-test-client')
    started.push(() => bus.close())
    // The test's own admin reader. After a DC restart ldapts reconnects without binding, so a
    // failed read binds a fresh client and tries once more.
    let ldap = await adminClient(dc)
    started.push(() => ldap.unbind())
    const readAccount = async (samAccountName: string, attributes: string[]) => {
      const search = () =>
        ldap.search(dc.baseDn, {
          scope: 'sub',
          filter: `(sAMAccountName=${escapeFilterValue(samAccountName)})`,
          attributes,
        })
      let result: Awaited<ReturnType<typeof search>>
      try {
        result = await search()
      } catch {
        await ldap.unbind().catch(() => {})
        ldap = await adminClient(dc)
        result = await search()
      }
      assert.equal(result.searchEntries.length, 1, `exactly one ${samAccountName} in AD`)
      return result.searchEntries[0]!
    }

    const system: System = {
      nats,
      global,
      agentNatsEnv: (server) => access.agentEnv(server),
      dc,
      kek,
      signer,
      work,
      logs,
      spnSyncLog,
      bus,
      topology,
      account,
      accountProcess,
      console: app,
      consoleUrl,
      spnSync,
      spnSyncReplica(logName) {
        const replica: SpnSyncProcess = new ServiceProcess(
          serviceMains.spnSync,
          spnSyncEnv,
          join(work, logName),
        )
        replicas.push(replica)
        return replica
      },
      async cli(args, role = 'admin', env = {}) {
        return await new Promise<CliResult>((resolveCli) => {
          execFile(
            cliBin,
            args,
            {
              env: { ...process.env, ...env, KRBFLEET_URL: consoleUrl, KRBFLEET_TOKEN: tokens[role].secret },
              timeout: 60_000,
              // A fleet's `agent list --json` is megabytes (execFile keeps 1 MiB by default).
              maxBuffer: 256 * 1024 * 1024,
            },
            (error, stdout, stderr) => {
              const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
              resolveCli({ code, stdout, stderr })
            },
          )
        })
      },
      async api(method, path, apiOptions = {}) {
        const headers: Record<string, string> = {
          authorization: `Bearer ${tokens[apiOptions.role ?? 'admin'].secret}`,
        }
        if (apiOptions.body !== undefined) headers['content-type'] = 'application/json'
        const response = await fetch(`${consoleUrl}${path}`, {
          method,
          headers,
          ...(apiOptions.body !== undefined ? { body: JSON.stringify(apiOptions.body) } : {}),
        })
        const text = await response.text()
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON (metrics); keep the text
        }
        return { status: response.status, body: body as never }
      },
      async spnsOf(samAccountName) {
        const entry = await readAccount(samAccountName, ['servicePrincipalName'])
        const value = entry.servicePrincipalName
        const values = value === undefined ? [] : Array.isArray(value) ? value : [value]
        return values.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))).sort()
      },
      async kvnoOf(samAccountName) {
        // Constructed attribute: returned only when asked for by name (lab/NOTES.md).
        const entry = await readAccount(samAccountName, ['msDS-KeyVersionNumber'])
        return Number(entry['msDS-KeyVersionNumber'])
      },
      events: () => allStoredEvents(bus),
      async streamText(stream) {
        const info = await bus.jsm.streams.info(stream)
        const out: string[] = []
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
          const message = await bus.jsm.streams.getMessage(stream, { seq }).catch(() => null)
          if (message) out.push(new TextDecoder().decode(message.data))
        }
        return out.join('\n')
      },
      async accountSecret(accountId) {
        const kv = await bus.kv(buckets.accounts)
        const entry = await kv.get(accountKey(accountId))
        assert.ok(entry && entry.operation === 'PUT', `a KV record for ${accountId}`)
        const record = AccountRecordCodec.decode(entry.json())
        assert.ok(record.secret, `a confirmed secret for ${accountId}`)
        // The sealed secret is bound to its record key, so it opens only as this account's.
        return {
          password: new KekSecretBox(kek).open(accountId, record.secret.sealed),
          kvno: record.secret.kvno,
        }
      },
      async eventually(condition, what, timeoutMs = 60_000) {
        const deadline = Date.now() + timeoutMs
        for (;;) {
          if (
            await Promise.resolve()
              .then(condition)
              .catch(() => false)
          )
            return
          if (Date.now() > deadline) assert.fail(`never happened within ${timeoutMs} ms: ${what}`)
          await new Promise((r) => setTimeout(r, 100))
        }
      },
      stop: cleanup,
    }
    return system
  } catch (err) {
    await cleanup()
    throw err
  }
}

/** A secret as a 0600 file in the system's folder (services read secrets from files). */
async function secretFile(work: string, name: string, value: string): Promise<string> {
  const file = join(work, name)
  await writeFile(file, value, { mode: 0o600 })
  return file
}

/** What every service process needs: NATS, and LDAPS to the DC as `ldap` (its password as a 0600 file). */
async function serviceEnv(
  work: string,
  name: string,
  dc: TestDc,
  nats: NatsAccess,
  ldap: { bindDn: string; password: string },
): Promise<NodeJS.ProcessEnv> {
  return {
    ...process.env,
    LOG_LEVEL: 'info',
    ...nats.env(`krbfleet-${name}`),
    KRBFLEET_LDAP_URL: dc.ldapsUrl,
    KRBFLEET_LDAP_CA_FILE: dc.caFile,
    KRBFLEET_LDAP_SERVERNAME: dc.tlsServername,
    KRBFLEET_LDAP_BIND_DN: ldap.bindDn,
    KRBFLEET_LDAP_PASSWORD_FILE: await secretFile(work, `${name}-ldap-password`, ldap.password),
  }
}

/**
 * The account service's real process against the system's NATS and DC: LDAPS as the given
 * identity, the KEK, the signing key and the LDAP password as 0600 files.
 */
async function startAccountProcess(
  work: string,
  dc: TestDc,
  nats: NatsAccess,
  kek: string,
  signer: SignerKeyPair,
  ldap: { bindDn: string; password: string },
  env: NodeJS.ProcessEnv,
): Promise<AccountProcess> {
  const processEnv: NodeJS.ProcessEnv = {
    ...(await serviceEnv(work, 'account', dc, nats, ldap)),
    KRBFLEET_DOMAIN_NETBIOS: dc.netbiosDomain,
    KRBFLEET_DOMAIN_DNS: dc.dnsDomain,
    KRBFLEET_ACCOUNT_KEK_FILE: await secretFile(work, 'account-kek', kek),
    KRBFLEET_ACCOUNT_SIGNER_KEY_FILE: await secretFile(
      work,
      'account-signer.pem',
      exportPrivateKey(signer.privateKey),
    ),
    ...env,
  }
  const child: AccountProcess = new ServiceProcess(
    serviceMains.account,
    processEnv,
    join(work, 'account.log'),
  )
  await child.start()
  return child
}

export async function tail(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.split('\n').slice(-lines).join('\n')
}
