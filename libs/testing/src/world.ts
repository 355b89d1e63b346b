import { type Bus, type ConnectBusOptions, connectBus } from '@krbfleet/bus'
import { connectDirectory, type Directory } from '@krbfleet/directory'
import { silentLogger } from '@krbfleet/logging'
import type { Logger } from 'pino'
import { type StartDcOptions, startDc, type TestDc } from './dc.ts'
import { type NatsServer, type StartNatsOptions, startNats } from './nats.ts'

export { allStoredEvents, lastEventSeq, storedEvents, storedHeartbeats } from './events.ts'

/**
 * The set-up most real-server tests share: a nats-server with JetStream and a bus connected to it
 * with krbfleet's streams and buckets in place, and (for tests that need AD) a Samba DC with an
 * administrator's LDAPS connection. One `stop()` closes what was opened, in reverse order.
 *
 * Its own entry point (`@krbfleet/testing/world`) because it uses libs/bus and libs/directory,
 * whose own tests use only the base harness (`@krbfleet/testing`): no import goes round in a loop.
 */

export interface NatsWorld {
  readonly nats: NatsServer
  /** A client bus (silent logger) on which `ensureStreams()` has run. */
  readonly bus: Bus
  stop(): Promise<void>
}

export interface World extends NatsWorld {
  readonly dc: TestDc
  /** The DC's administrator over LDAPS: what a test uses to read and change AD behind krbfleet's back. */
  readonly admin: Directory
}

export interface WorldOptions {
  /** The bus connection's name, shown by nats-server (`account-removal-test`). */
  name: string
  nats?: StartNatsOptions
  dc?: StartDcOptions
  /** The bus's logger (default silent; a test may pass a real one for TEST_LOG). */
  logger?: Logger
  /** More connectBus options (the streams' limits, for example). */
  bus?: Partial<Omit<ConnectBusOptions, 'servers' | 'name' | 'logger'>>
}

/** The administrator's LDAPS connection to a test DC (CA pinned, the DC's TLS name). */
export async function adminDirectory(dc: TestDc, options: { timeoutMs?: number } = {}): Promise<Directory> {
  return await connectDirectory({
    url: dc.ldapsUrl,
    caFile: dc.caFile,
    servername: dc.tlsServername,
    bindDn: dc.adminDn,
    password: dc.adminPassword,
    ...options,
  })
}

async function connected(nats: NatsServer, options: WorldOptions): Promise<Bus> {
  const bus = await connectBus({
    ...options.bus,
    servers: nats.url,
    name: options.name,
    logger: options.logger ?? silentLogger(),
  })
  await bus.ensureStreams()
  return bus
}

/** NATS and a connected bus with the streams in place. */
export async function startNatsWorld(options: WorldOptions): Promise<NatsWorld> {
  const nats = await startNats(options.nats)
  try {
    const bus = await connected(nats, options)
    return {
      nats,
      bus,
      async stop() {
        await bus.close()
        await nats.stop()
      },
    }
  } catch (err) {
    await nats.stop()
    throw err
  }
}

/** NATS and a Samba DC started side by side, a connected bus, and the DC's administrator. */
export async function startWorld(options: WorldOptions): Promise<World> {
  const [nats, dc] = await Promise.all([startNats(options.nats), startDc(options.dc)])
  const opened: Array<{ close(): Promise<void> }> = []
  try {
    const bus = await connected(nats, options)
    opened.push(bus)
    const admin = await adminDirectory(dc)
    opened.push(admin)
    return {
      nats,
      dc,
      bus,
      admin,
      async stop() {
        await Promise.allSettled([admin.close(), bus.close()])
        await Promise.all([dc.stop(), nats.stop()])
      },
    }
  } catch (err) {
    await Promise.allSettled(opened.map((o) => o.close()))
    await Promise.all([dc.stop(), nats.stop()])
    throw err
  }
}
