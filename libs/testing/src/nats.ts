import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { portAnswers } from './addresses.ts'
import { containersRequested, natsContainer } from './nats-container.ts'
import { freePort } from './ports.ts'
import { type ManagedProcess, startProcess } from './processes.ts'
import { requireCommands } from './system.ts'

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** JetStream store folder; survives restart(). */
  readonly storeDir: string
  readonly logFile: string
  /** Stops and starts the same server on the same port with the same store (fault tests). */
  restart(): Promise<void>
  /** Stops the server without deleting its store (for a later start()). */
  kill(): Promise<void>
  start(): Promise<void>
  /** Stops it and deletes its folder. */
  stop(): Promise<void>
}

export interface StartNatsOptions {
  /** Parent folder for the store and log; a fresh temp folder by default. */
  dir?: string
  port?: number
  /** Extra nats-server arguments (for example `-c file.conf`). */
  args?: string[]
  /** Keep the folder on stop() (the lab keeps its store). */
  keep?: boolean
  dieWithParent?: boolean
  /**
   * Run the official nats image instead of the Debian binary (needs a Docker engine).
   * Default: true when KRBFLEET_HARNESS=containers, else false.
   */
  containers?: boolean
}

/** Resolves once something accepts TCP connections on host:port. */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await portAnswers(host, port))) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not accept connections on ${host}:${port} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A real nats-server with JetStream on a free loopback port, its own store, dying with this process. */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const useContainer = options.containers ?? containersRequested()
  if (!useContainer) await requireCommands(['nats-server'])
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'krbfleet-nats-')))
  const storeDir = join(dir, 'jetstream')
  await mkdir(storeDir, { recursive: true })
  const port = options.port ?? (await freePort())
  const logFile = join(dir, 'nats-server.log')
  let process: ManagedProcess | undefined
  const container = useContainer ? natsContainer({ port, storeDir, args: options.args ?? [] }) : undefined

  const start = async () => {
    if (container) return await container.start()
    if (process && process.child.exitCode === null && process.child.signalCode === null) return
    process = startProcess({
      name: 'nats-server',
      command: 'nats-server',
      args: ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir, ...(options.args ?? [])],
      logFile,
      dieWithParent: options.dieWithParent ?? true,
    })
    const exitedEarly = process.exited.then((code) => {
      throw new Error(`nats-server exited with code ${code} during start-up; see ${logFile}`)
    })
    await Promise.race([waitForPort('127.0.0.1', port, 10_000, 'nats-server'), exitedEarly])
    exitedEarly.catch(() => {})
  }
  const kill = async () => {
    await container?.kill()
    await process?.stop()
  }
  try {
    await start()
  } catch (error) {
    await kill().catch(() => {})
    if (!options.keep && !options.dir) await rm(dir, { recursive: true, force: true })
    throw error
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    logFile,
    start,
    kill,
    async restart() {
      await kill()
      await start()
    },
    async stop() {
      await kill()
      if (!options.keep && !options.dir) await rm(dir, { recursive: true, force: true })
    },
  }
}
