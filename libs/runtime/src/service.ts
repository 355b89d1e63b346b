import type { Codec } from '@krbfleet/contracts'
import { createLogger, type Logger } from '@krbfleet/logging'
import { pino } from 'pino'
import Type, { type Static, type TSchema } from 'typebox'
import { codec as makeCodec } from '@krbfleet/contracts'
import { ConfigError, loadConfig } from './config.ts'

/** Anything with a stop or close: consumers, rpc servers, reconcile queues, the bus, fastify, LDAP. */
export type StoppablePart = { stop(): Promise<unknown> } | { close(): Promise<unknown> }

/**
 * What a started service hands back, by kind. Shutdown follows STYLE rule 8:
 * consumers (and rpc servers, queues) -> NATS drain -> HTTP -> LDAP -> flush logs.
 */
export interface ServiceParts {
  consumers?: StoppablePart[]
  nats?: StoppablePart[]
  http?: StoppablePart[]
  ldap?: StoppablePart[]
}

export const shutdownPhases = ['consumers', 'nats', 'http', 'ldap'] as const satisfies ReadonlyArray<
  keyof ServiceParts
>

export interface ServiceContext<C> {
  name: string
  logger: Logger
  config: C
  env: Record<string, string | undefined>
  /**
   * Aborted when a shutdown begins before `start` has returned (SIGTERM during start-up). Pass it
   * to whatever may wait long (connectBusFromSettings with waitOnFirstConnect), so that start-up
   * gives up at once and the process exits within its shutdown budget.
   */
  signal: AbortSignal
}

export interface RunServiceOptions<S extends TSchema> {
  name: string
  /** Schema of the settings (see loadConfig for the environment variable names). */
  config?: Codec<S>
  /** Default `KRBFLEET_`. */
  configPrefix?: string
  start(ctx: ServiceContext<Static<S>>): Promise<ServiceParts> | ServiceParts
  /** Default 5000 ms: past it the process exits with code 1 anyway. */
  shutdownTimeoutMs?: number
}

const emptyConfig = makeCodec(Type.Object({}), 'configuration')

async function stopPart(part: StoppablePart): Promise<void> {
  if ('stop' in part) await part.stop()
  else await part.close()
}

/** Stops the parts phase by phase, in the agreed order; a failing part is logged and the rest go on. */
export async function stopParts(parts: ServiceParts, logger: Logger): Promise<boolean> {
  let clean = true
  for (const phase of shutdownPhases) {
    const list = parts[phase] ?? []
    if (list.length === 0) continue
    logger.info({ phase }, `stopping ${phase}`)
    const results = await Promise.allSettled(list.map(stopPart))
    for (const result of results) {
      if (result.status === 'rejected') {
        clean = false
        logger.error({ phase, err: result.reason }, `a part of ${phase} failed to stop`)
      }
    }
    logger.info({ phase }, `stopped ${phase}`)
  }
  return clean
}

function flush(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve())
    } catch {
      resolve()
    }
  })
}

/**
 * The body of every `services/<name>/src/main.ts`: creates the process logger, loads the
 * configuration (a bad value stops start-up naming the variable), calls `start`, and owns
 * SIGTERM/SIGINT: stop in order within `shutdownTimeoutMs`, flush the logs, exit 0 (1 when the
 * shutdown failed or overran). This and main.ts are the only places that touch `process`.
 */
export async function runService<S extends TSchema = TSchema>(options: RunServiceOptions<S>): Promise<void> {
  const env = process.env
  // Synchronous stdout: with asynchronous writes, lines written while exiting were seen out of
  // order when stdout is a busy pipe, which breaks the shutdown record (and log ordering in general).
  const logger = createLogger({
    name: options.name,
    destination: pino.destination({ dest: 1, sync: true }) as unknown as NodeJS.WritableStream,
  })
  const timeoutMs = options.shutdownTimeoutMs ?? 5000
  let parts: ServiceParts = {}
  let shuttingDown = false
  let starting = false
  // A signal during start-up aborts this, then waits for start() to hand its parts back (or to
  // give up), and stops what it got.
  const startup = new AbortController()
  let started: Promise<unknown> = Promise.resolve()

  const exit = async (code: number) => {
    await flush(logger)
    process.exit(code)
  }

  const shutdown = async (reason: string, code: number) => {
    if (shuttingDown) return
    shuttingDown = true
    const duringStartUp = starting
    logger.info({ reason, timeoutMs, ...(duringStartUp ? { duringStartUp } : {}) }, 'shutting down')
    const timer = setTimeout(() => {
      logger.error(
        { timeoutMs },
        duringStartUp
          ? `start-up did not stop within ${timeoutMs} ms of ${reason}; exiting`
          : `shutdown did not finish within ${timeoutMs} ms; exiting`,
      )
      void exit(1)
    }, timeoutMs)
    if (duringStartUp) startup.abort(new Error(`${options.name} is shutting down (${reason})`))
    await started.catch(() => {})
    const clean = await stopParts(parts, logger)
    clearTimeout(timer)
    logger.info({ clean }, 'stopped')
    await exit(clean ? code : 1)
  }

  process.once('SIGTERM', () => void shutdown('SIGTERM', 0))
  process.once('SIGINT', () => void shutdown('SIGINT', 0))
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception')
    void shutdown('uncaught exception', 1)
  })
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled promise rejection')
    void shutdown('unhandled rejection', 1)
  })

  let config: Static<S>
  try {
    config = loadConfig((options.config ?? emptyConfig) as Codec<S>, {
      env,
      ...(options.configPrefix ? { prefix: options.configPrefix } : {}),
    })
  } catch (err) {
    const settings = err instanceof ConfigError ? err.settings : []
    logger.fatal(
      { err: { message: (err as Error).message }, settings },
      `${options.name} cannot start: ${(err as Error).message}`,
    )
    return exit(1)
  }
  try {
    starting = true
    const pending = Promise.resolve(
      options.start({ name: options.name, logger, config, env, signal: startup.signal }),
    )
    started = pending
    parts = await pending
  } catch (err) {
    if (shuttingDown) {
      // Not a failure: the shutdown asked start-up to stop (shutdown() goes on and exits).
      logger.info(
        { err: { message: err instanceof Error ? err.message : String(err) } },
        `start-up stopped: ${err instanceof Error ? err.message : String(err)}`,
      )
      return
    }
    logger.fatal(
      { err },
      `${options.name} failed to start: ${err instanceof Error ? err.message : String(err)}`,
    )
    return exit(1)
  } finally {
    starting = false
  }
  if (!shuttingDown) logger.info('started')
}
