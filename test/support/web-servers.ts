/**
 * Web servers for end-to-end tests: each one a real agent process (services/iis-agent/src/main.ts,
 * keytab backend) writing the keytab its own real Apache with mod_auth_gssapi reads, on its own
 * loopback port. The agent enrols with a one-time token the test issues through the real CLI, as an
 * operator would; nothing is handed to it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { readKeytabFile } from '@krbfleet/kerberos'
import { exportPublicKey } from '@krbfleet/sealing'
import { freePort, kerberosEnv, startApache, type TestApache } from '@krbfleet/testing'
import { nodeBin, repoRoot, type System } from './system.ts'

const run = promisify(execFile)
const agentMain = join(repoRoot, 'services', 'iis-agent', 'src', 'main.ts')
const exitWithParent = join(import.meta.dirname, '..', 'fixtures', 'exit-with-parent.ts')

export interface WebServer {
  server: string
  pool: string
  keytab: string
  /** The agent's state folder (key file, backend state, enrolment token). */
  stateDir: string
  apache: TestApache
  /** The agent's stdout and stderr since its last start. */
  output(): string
  /** Starts the agent (enrolling it with a new token when `enrol`). */
  start(options?: { enrol?: boolean }): Promise<void>
  /** Stops the agent with `signal` and waits for it to exit; its exit code (null: killed, or not running). */
  stop(signal: NodeJS.Signals): Promise<number | null>
  running(): boolean
  /** Sends `signal` to the agent without waiting (SIGSTOP freezes it, SIGCONT lets it go on). */
  signal(signal: NodeJS.Signals): void
  /** The kvnos its keytab holds, sorted. */
  kvnos(): Promise<number[]>
  /** `curl --negotiate` for http://<pool>/ on this server's Apache with the ticket cache `cache`. */
  negotiate(cache: string): Promise<number>
  close(): Promise<void>
}

export interface WebServerOptions {
  /** KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS (default 500). */
  heartbeatMs?: number
}

/** The environment of a Kerberos client whose ticket cache is the file `cache` in the system's folder. */
export function clientEnv(system: System, cache: string): NodeJS.ProcessEnv {
  return { ...process.env, ...kerberosEnv(system.dc), KRB5CCNAME: `FILE:${join(system.work, `cc-${cache}`)}` }
}

/** kinit `user` into the ticket cache `cache`. */
export async function login(system: System, cache: string, user: string, password: string): Promise<void> {
  await run('sh', ['-c', 'printf "%s\\n" "$PW" | kinit "$U" >/dev/null', 'sh'], {
    env: { ...clientEnv(system, cache), PW: password, U: user },
  })
}

/** A copy of ticket cache `from` as `to` (a TGT only cache copied gets new service tickets). */
export async function copyCache(system: System, from: string, to: string): Promise<void> {
  await copyFile(join(system.work, `cc-${from}`), join(system.work, `cc-${to}`))
}

export async function startWebServer(
  system: System,
  server: string,
  pool: string,
  options: WebServerOptions = {},
): Promise<WebServer> {
  // The whole FQDN: fe01 of one site is not fe01 of another.
  const name = server.replaceAll('.', '_')
  const stateDir = join(system.work, `${name}-agent`)
  const keytab = join(system.work, `${name}-keytab`, 'http.keytab')
  await run('chmod', ['0755', system.work])
  const apache = await startApache({ keytab, krb5Config: system.dc.krb5Conf })
  let child: ChildProcess | undefined
  let output = ''
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null
  const stop = async (signal: NodeJS.Signals): Promise<number | null> => {
    const current = child
    if (!current || !running()) return null
    const exited = once(current, 'exit')
    current.kill(signal)
    await exited
    return current.exitCode
  }
  return {
    server,
    pool,
    keytab,
    stateDir,
    apache,
    output: () => output,
    running,
    async start(startOptions = {}) {
      if (running()) throw new Error(`the agent of ${server} is already running`)
      if (startOptions.enrol) {
        const issued = await system.cli(['agent', 'token', server, '--json'])
        if (issued.code !== 0) throw new Error(`agent token ${server}: ${issued.stderr}`)
        await mkdir(stateDir, { recursive: true, mode: 0o700 })
        const { token } = JSON.parse(issued.stdout) as { token: string }
        await writeFile(join(stateDir, 'enrol-token'), token, { mode: 0o600 })
      }
      output = ''
      const spawned = spawn(nodeBin, ['--import', exitWithParent, agentMain], {
        env: {
          PATH: process.env.PATH ?? '',
          KRB5_CONFIG: system.dc.krb5Conf,
          ...system.agentNatsEnv(server),
          KRBFLEET_HTTP_HOST: '127.0.0.1',
          KRBFLEET_HTTP_PORT: String(await freePort()),
          KRBFLEET_AGENT_SERVER: server,
          KRBFLEET_AGENT_STATE_DIR: stateDir,
          KRBFLEET_AGENT_SIGNER_KEY: exportPublicKey(system.signer.publicKey),
          KRBFLEET_AGENT_KEYTAB: keytab,
          KRBFLEET_AGENT_KEYTAB_GROUP: 'www-data',
          KRBFLEET_AGENT_HEARTBEAT_INTERVAL_MS: String(options.heartbeatMs ?? 500),
          KRBFLEET_AGENT_CREDENTIAL_REFRESH_MS: '2000',
        },
        // stdin open: exit-with-parent.ts stops the agent when this test process goes away.
        stdio: ['pipe', 'pipe', 'pipe'],
        cwd: repoRoot,
      })
      const collect = (chunk: Buffer) => {
        output += chunk.toString()
      }
      spawned.stdout?.on('data', collect)
      spawned.stderr?.on('data', collect)
      child = spawned
    },
    stop,
    signal(signal) {
      if (running()) child?.kill(signal)
    },
    async kvnos() {
      const entries = await readKeytabFile(keytab).catch(() => [])
      return [...new Set(entries.map((e) => e.kvno))].sort((a, b) => a - b)
    },
    negotiate: (cache) => apache.negotiate(pool, clientEnv(system, cache)),
    async close() {
      await stop('SIGKILL')
      await apache.stop()
    },
  }
}
