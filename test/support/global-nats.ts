/**
 * deploy/nats as a global deployment on loopback, for end-to-end tests and the global benchmark:
 * three hub nats-servers in one cluster (JetStream, the streams and buckets created R3 by the
 * bootstrap identity) and one leaf node per site, from the production files with the generated
 * per-user permissions and TLS (deploy/nats/src/loopback.ts). Each server can be stopped, started
 * and SIGKILLed on its own (fault tests).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connectBus } from '@krbfleet/bus'
import type { TopologyDocument } from '@krbfleet/contracts'
import { createLogger } from '@krbfleet/logging'
import { freePort, type ManagedProcess, type NatsServer, startProcess, waitForPort } from '@krbfleet/testing'
import { bootstrapStreams } from '../../deploy/nats/src/bootstrap.ts'
import {
  type LoopbackDeployment,
  type LoopbackNode,
  observerUser,
  writeLoopbackDeployment,
} from '../../deploy/nats/src/loopback.ts'
import { bootstrapUser } from '../../deploy/nats/src/permissions.ts'

/** One nats-server of the deployment; `url` is its client URL (TLS). */
export interface NatsNode extends NatsServer {
  readonly name: string
  readonly httpPort: number
  readonly running: boolean
  /** SIGKILL of nats-server itself (not its supervisor): no shutdown, no goodbye to the cluster. */
  sigkill(): Promise<void>
  /** Sends `signal` to nats-server itself (SIGSTOP freezes it: its links stay open and silent). */
  signal(signal: NodeJS.Signals): Promise<void>
  /** A monitoring endpoint's JSON (`jsz?streams=true`, `leafz`, `routez`). */
  monitor<T = Record<string, unknown>>(path: string): Promise<T>
}

export interface GlobalNats {
  deployment: LoopbackDeployment
  hubs: NatsNode[]
  leaf(site: string): NatsNode
  leaves: NatsNode[]
  /** Resolves once the leaf of `site` has its link to a hub. */
  linked(site: string, timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

export interface GlobalNatsOptions {
  dir: string
  topology: TopologyDocument
  /** JetStream replicas of the streams and buckets (3: one hub may be lost). */
  replicas?: number
}

export async function startGlobalNats(options: GlobalNatsOptions): Promise<GlobalNats> {
  const deployment = await writeLoopbackDeployment({
    dir: options.dir,
    topology: options.topology,
    port: freePort,
    extraHubUsers: [observerUser()],
  })
  const env = { ...process.env, ...deployment.serverEnv }
  const hubs = deployment.hubs.map((hub) => natsNode(hub, env, options.dir, hub.storeDir))
  const leaves = deployment.leaves.map((leaf) => natsNode(leaf, env, options.dir, ''))
  const stop = async () => {
    await Promise.all([...leaves, ...hubs].map((n) => n.stop().catch(() => {})))
  }
  try {
    // The cluster forms only with its peers: start all three, then wait for JetStream on each.
    await Promise.all(hubs.map((h) => h.start()))
    const bus = await connectBus({
      ...deployment.clientOptions(bootstrapUser(), deployment.hubUrl),
      name: 'krbfleet-bootstrap',
      logger: createLogger({ name: 'nats-bootstrap', level: 'warn' }),
      replicas: options.replicas ?? 3,
    })
    try {
      await bootstrapStreams(bus)
    } finally {
      await bus.close()
    }
    await Promise.all(leaves.map((l) => l.start()))
    const global: GlobalNats = {
      deployment,
      hubs,
      leaves,
      leaf(site) {
        const node = leaves.find((l) => l.name === `leaf-${site}`)
        if (!node) throw new Error(`no leaf node for site ${site}`)
        return node
      },
      async linked(site, timeoutMs = 20_000) {
        const node = global.leaf(site)
        const deadline = Date.now() + timeoutMs
        while (
          (await node.monitor<{ leafnodes?: number }>('leafz').catch(() => ({ leafnodes: 0 }))).leafnodes !==
          1
        ) {
          if (Date.now() > deadline)
            throw new Error(`${node.name} not linked to a hub within ${timeoutMs} ms`)
          await new Promise((r) => setTimeout(r, 50))
        }
      },
      stop,
    }
    for (const leaf of deployment.leaves) await global.linked(leaf.site)
    return global
  } catch (err) {
    await stop()
    throw err
  }
}

function natsNode(node: LoopbackNode, env: NodeJS.ProcessEnv, dir: string, storeDir: string): NatsNode {
  let server: ManagedProcess | undefined
  const logFile = join(dir, `${node.name}.log`)
  const running = () =>
    server !== undefined && server.child.exitCode === null && server.child.signalCode === null
  const monitor = async <T>(path: string): Promise<T> => {
    const response = await fetch(`http://127.0.0.1:${node.httpPort}/${path}`)
    return (await response.json()) as T
  }
  const start = async () => {
    if (running()) return
    const started = startProcess({
      name: node.name,
      command: 'nats-server',
      args: ['-c', node.configFile, '-P', node.pidFile],
      logFile,
      env,
      dieWithParent: true,
    })
    server = started
    const exited = started.exited.then((code) => {
      throw new Error(`${node.name} exited with code ${code} during start-up; see ${logFile}`)
    })
    exited.catch(() => {})
    await Promise.race([waitForPort('127.0.0.1', node.clientPort, 20_000, node.name), exited])
    // A hub is ready once JetStream has a meta leader (/healthz 200); a leaf answers at once.
    const deadline = Date.now() + 30_000
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${node.httpPort}/healthz`).then(
        (r) => r.status,
        () => 0,
      )
      if (status === 200) break
      if (Date.now() > deadline) throw new Error(`${node.name}: /healthz not 200 within 30 s; see ${logFile}`)
      await Promise.race([new Promise((r) => setTimeout(r, 100)), exited])
    }
  }
  const kill = async () => {
    await server?.stop()
  }
  const pid = async () => Number((await readFile(node.pidFile, 'utf8')).trim())
  return {
    name: node.name,
    url: `tls://127.0.0.1:${node.clientPort}`,
    port: node.clientPort,
    httpPort: node.httpPort,
    storeDir,
    logFile,
    get running() {
      return running()
    },
    start,
    kill,
    async restart() {
      await kill()
      await start()
    },
    stop: kill,
    async sigkill() {
      const current = server
      if (!current || !running()) return
      process.kill(await pid(), 'SIGKILL')
      await current.exited
    },
    async signal(signal) {
      if (running()) process.kill(await pid(), signal)
    },
    monitor,
  }
}
