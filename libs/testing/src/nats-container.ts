import type { StartedTestContainer } from 'testcontainers'

/**
 * nats-server in a container, for machines with a Docker engine (opt-in: KRBFLEET_HARNESS=containers).
 * The JetStream store is a bind mount of the same host folder the binary path uses, and the host
 * port is fixed, so kill()/start()/restart() behave as with the binary: same URL, same data.
 * Containers die with the test process through testcontainers' reaper (Ryuk), not through a pipe.
 * Not exercised on the project's CI machines, which have no Docker engine (lab/NOTES.md).
 */
export const natsImage = process.env.KRBFLEET_NATS_IMAGE ?? 'nats:2.9.10'

export function containersRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.KRBFLEET_HARNESS === 'containers'
}

export interface NatsContainer {
  start(): Promise<void>
  kill(): Promise<void>
}

export function natsContainer(options: { port: number; storeDir: string; args: string[] }): NatsContainer {
  let container: StartedTestContainer | undefined
  return {
    async start() {
      if (container) return
      const { GenericContainer, Wait } = await import('testcontainers')
      try {
        container = await new GenericContainer(natsImage)
          .withCommand(['-js', '-sd', '/data', ...options.args])
          .withExposedPorts({ container: 4222, host: options.port })
          .withBindMounts([{ source: options.storeDir, target: '/data', mode: 'rw' }])
          .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
          .start()
      } catch (error) {
        throw new Error(
          `KRBFLEET_HARNESS=containers but ${natsImage} could not be started (is a Docker engine reachable?): ${(error as Error).message}`,
        )
      }
    },
    async kill() {
      const running = container
      container = undefined
      await running?.stop({ remove: true })
    },
  }
}
