import { type Bus, callRpc, type ConnectBusOptions, type RpcServer, serveRpc } from '@krbfleet/bus'
import { accountOperations, codec, type EventEnvelope, ServiceName, spnOperations } from '@krbfleet/contracts'
import type { RouteOptions } from 'fastify'
import { busReaders } from '../src/adapters/nats/readers.ts'
import Type from 'typebox'
import { silentLogger } from '@krbfleet/logging'
import type { NatsServer } from '@krbfleet/testing'
import { startNatsWorld } from '@krbfleet/testing/world'
import { startTopology, type TopologyInstance } from '@krbfleet/topology'
import type { Logger } from 'pino'
import { type BuildAppOptions, buildApp, type ConsoleApp, hashToken, type TokenRecord } from '../src/index.ts'
import { routeModules } from '../src/routes/index.ts'
import { lastEventSeq, storedEvents as stored } from '@krbfleet/testing/world'

export const tokens = {
  admin: 'admin-secret-token',
  operator: 'operator-secret-token',
  viewer: 'viewer-secret-token',
}
export const auth = (role: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[role]}` })

export interface ConsoleWorld {
  nats: NatsServer
  bus: Bus
  topology: TopologyInstance
  app: ConsoleApp
  /** Every route the route modules registered (method, url with the /v1 prefix, schema, config). */
  routes: RouteOptions[]
  stop(): Promise<void>
}

/** A request that reached a stand-in service. */
export interface StandInCall {
  service: ServiceName
  operation: string
  body: unknown
}

/**
 * Answers every account and spn-sync operation on the real bus, records what reached it and
 * changes nothing: where a console request ends up (and with which dryRun) is then observable
 * without a DC. A reply says `dryRun` as it was asked.
 */
export async function startStandIns(bus: Bus): Promise<{ calls: StandInCall[]; stop(): Promise<void> }> {
  const calls: StandInCall[] = []
  const anything = codec(Type.Unknown(), 'stand-in request')
  const servers: RpcServer[] = []
  for (const [service, operations] of [
    [ServiceName.Account, Object.values(accountOperations)],
    [ServiceName.SpnSync, Object.values(spnOperations)],
  ] as const) {
    for (const operation of operations) {
      servers.push(
        serveRpc(bus, {
          service,
          operation,
          request: anything,
          handle(body) {
            calls.push({ service, operation, body })
            const dryRun = (body as { dryRun?: unknown } | undefined)?.dryRun === true
            return { dryRun, changes: [] }
          },
        }),
      )
    }
  }
  await Promise.all(servers.map((s) => s.ready))
  return {
    calls,
    async stop() {
      await Promise.all(servers.map((s) => s.stop()))
    },
  }
}

export interface ConsoleWorldOptions extends Omit<BuildAppOptions, 'routes'> {
  /** connectBus options (the events stream's limits, for example). */
  bus?: Partial<ConnectBusOptions>
  logger?: Logger
}

/** Real nats-server, a topology service and the console app, all in this process. */
export async function startConsoleWorld(options: ConsoleWorldOptions = {}): Promise<ConsoleWorld> {
  const { bus: busOptions, logger, ...appOptions } = options
  const { nats, bus, stop } = await startNatsWorld({ name: 'console-test', bus: busOptions ?? {} })
  const topology = await startTopology({ bus, logger: silentLogger() })
  const routes: RouteOptions[] = []
  const records: TokenRecord[] = (Object.keys(tokens) as (keyof typeof tokens)[]).map((role) => ({
    name: `${role}-token`,
    role,
    sha256: hashToken(tokens[role]),
  }))
  const app = await buildApp(
    {
      logger: logger ?? silentLogger(),
      tokens: records,
      rpc: (service, operation, body, options) => callRpc(bus, service, operation, body, options),
      publish: (e) => bus.publish(e),
      ...busReaders(bus),
      checks: { nats: () => bus.isConnected() },
    },
    {
      ...appOptions,
      // The real modules, each watched by an onRoute hook, so that tests can walk every route.
      routes: routeModules.map((module) => async (scope, ctx) => {
        scope.addHook('onRoute', (route) => {
          routes.push(route)
        })
        await module(scope, ctx)
      }),
    },
  )
  return {
    nats,
    bus,
    topology,
    app,
    routes,
    async stop() {
      await app.close()
      await topology.stop()
      await stop()
    },
  }
}

export const storedEvents = (bus: Bus, fromSeq = 1): Promise<EventEnvelope[]> => stored(bus, { fromSeq })

export const lastSeq = lastEventSeq
