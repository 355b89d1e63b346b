import {
  allEvents,
  ErrorCode,
  type EventEnvelope,
  KrbfleetError,
  type KvDefinition,
  type StreamDefinition,
  type StreamLimits,
  streams,
} from '@krbfleet/contracts'
import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream'
import { type KV, Kvm } from '@nats-io/kv'
import { type NatsConnection, nanos } from '@nats-io/nats-core'
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { backoffDelay, sleep } from './backoff.ts'
import { isTransientNatsError, toBusError } from './errors.ts'

export interface ConnectBusOptions {
  /** One URL or several (`nats://host:4222`); a cluster's seed list. */
  servers: string | string[]
  /** Connection name shown by the server (`krbfleet-account`). */
  name: string
  logger: Logger
  user?: string
  pass?: string
  token?: string
  /**
   * Subject prefix of this connection's reply inboxes (requests, JetStream API calls, pull
   * consumers), default `_INBOX`. A deployment with per-user permissions gives each user its own
   * (`_INBOX_<user>`, deploy/nats) so that no user may subscribe to the replies of another.
   */
  inboxPrefix?: string
  /** TLS towards the server: a CA file and, when needed, client certificate and key files. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string }
  /** Base wait between reconnect attempts (ms, default 2000); jitter is added by the client. */
  reconnectTimeWaitMs?: number
  /** Jitter added to every reconnect wait (ms, default 500). */
  reconnectJitterMs?: number
  /** When true, connectBus waits for a server that is not up yet instead of failing at once. */
  waitOnFirstConnect?: boolean
  /** JetStream replicas of streams and buckets this process creates (1 alone, 3 on a hub cluster). */
  replicas?: number
  /**
   * The JetStream domain to use (`hub`): a client of a leaf node, which has no JetStream of its
   * own, reaches the hub's through it (`$JS.hub.API`). Unset next to the JetStream.
   */
  jsDomain?: string
  /** Attempts of one publish before it fails as unavailable (default 6). */
  publishAttempts?: number
  /**
   * Wait for the ack of one attempt (ms, default 2000). An ack takes milliseconds; a request sent
   * while nats-server restarts is lost without an answer (observed on 2.9.10), so a short wait and
   * a retry (safe: same msgID) resumes sooner than the 5 s JetStream default.
   */
  publishTimeoutMs?: number
  /** close() waits this long for the drain before closing outright (ms, default 2000). */
  drainTimeoutMs?: number
  /** Limits that replace a contracts stream's own (by stream name), e.g. a smaller events stream. */
  streamLimits?: Record<string, Partial<StreamLimits>>
}

export interface PublishResult {
  /** Stream sequence the event is stored at (of the first copy for a duplicate). */
  seq: number
  /** True when JetStream already held an event with this id (the publish was a retry). */
  duplicate: boolean
}

export interface Bus {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** The JetStream API subject prefix of this connection's domain: `$JS.API`, or `$JS.<domain>.API`. */
  readonly jsApiPrefix: string
  readonly logger: Logger
  /** The server's version (`2.9.10`), to guard features newer servers add. */
  readonly serverVersion: string
  /** True when the connected server is at least `version` (`2.10.0`). */
  serverAtLeast(version: string): boolean
  /** Creates or updates every stream of `streams` from @krbfleet/contracts; safe to call from every replica. */
  ensureStreams(): Promise<void>
  /** Opens the bucket, creating it first if needed; safe to call concurrently. */
  kv(def: KvDefinition): Promise<KV>
  /** Publishes on the event's subject with msgID = envelope.id; retries transient failures. */
  publish(envelope: EventEnvelope): Promise<PublishResult>
  isConnected(): boolean
  /** Drains subscriptions and closes the connection. */
  close(): Promise<void>
}

const eventsByType = new Map<string, (typeof allEvents)[number]>(allEvents.map((e) => [e.type, e]))

/** The JetStream configuration of a contracts stream. Only options nats-server 2.9 knows. */
export function streamConfig(
  def: StreamDefinition,
  replicas = 1,
  limits: StreamLimits = def.limits,
): StreamConfig {
  return {
    name: def.name,
    subjects: [...def.subjects],
    description: def.description,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: limits.discard === 'old' ? DiscardPolicy.Old : DiscardPolicy.New,
    max_age: nanos(def.maxAgeMs),
    max_bytes: limits.maxBytes,
    max_msgs: limits.maxMessages,
    max_msg_size: limits.maxMessageBytes,
    duplicate_window: nanos(def.duplicateWindowMs),
    ...(def.maxMessagesPerSubject ? { max_msgs_per_subject: def.maxMessagesPerSubject } : {}),
    num_replicas: replicas,
  } as StreamConfig
}

/** The size limits a stream or bucket is created and kept with (a stream update may change them). */
const limitFields = ['max_bytes', 'max_msgs', 'max_msg_size', 'discard'] as const

/** The settings of `wanted` that differ in `actual` (only those a stream update may change). */
export function streamDrift(wanted: StreamConfig, actual: StreamConfig): string[] {
  const drift: string[] = []
  const sameList = (a: string[] = [], b: string[] = []) =>
    a.length === b.length && [...a].sort().every((v, i) => v === [...b].sort()[i])
  if (!sameList(wanted.subjects, actual.subjects)) drift.push('subjects')
  if (wanted.max_age !== actual.max_age) drift.push('max_age')
  if (wanted.duplicate_window !== actual.duplicate_window) drift.push('duplicate_window')
  for (const field of limitFields) if (wanted[field] !== actual[field]) drift.push(field)
  if (
    wanted.max_msgs_per_subject !== undefined &&
    wanted.max_msgs_per_subject !== actual.max_msgs_per_subject
  )
    drift.push('max_msgs_per_subject')
  if ((wanted.description ?? '') !== (actual.description ?? '')) drift.push('description')
  return drift
}

export async function connectBus(options: ConnectBusOptions): Promise<Bus> {
  const logger = options.logger.child({ component: 'bus' })
  const connectOptions: NodeConnectionOptions = {
    servers: options.servers,
    name: options.name,
    // A service never gives up on NATS: it stays unready and keeps trying (ARCHITECTURE: NATS is the store).
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 2000,
    reconnectJitter: options.reconnectJitterMs ?? 500,
    reconnectJitterTLS: options.reconnectJitterMs ?? 1000,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
    // Without this, every request and JetStream publish builds two Error objects up front (their
    // stacks name the caller should it time out): about a tenth of an agent's CPU in a rotation
    // (bench fleet). Our errors say what timed out without the caller's stack.
    noAsyncTraces: true,
  }
  if (options.user !== undefined) connectOptions.user = options.user
  if (options.pass !== undefined) connectOptions.pass = options.pass
  if (options.token !== undefined) connectOptions.token = options.token
  if (options.inboxPrefix !== undefined) connectOptions.inboxPrefix = options.inboxPrefix
  if (options.tls) {
    connectOptions.tls = {
      ...(options.tls.caFile ? { caFile: options.tls.caFile } : {}),
      ...(options.tls.certFile ? { certFile: options.tls.certFile } : {}),
      ...(options.tls.keyFile ? { keyFile: options.tls.keyFile } : {}),
    }
  }
  // Credentials may sit inside a URL (`nats://user:pass@host`); never put them in a message.
  const servers = [options.servers].flat().map(withoutCredentials).join(',')
  let nc: NatsConnection
  try {
    nc = await connect(connectOptions)
  } catch (err) {
    // The message names the servers, never the credentials.
    throw new KrbfleetError(ErrorCode.Unavailable, `cannot connect to NATS at ${servers}: ${describe(err)}`, {
      cause: err,
    })
  }
  const serverVersion = nc.info?.version ?? 'unknown'
  logger.info({ server: nc.getServer(), serverVersion, name: options.name }, 'connected to NATS')
  void watchStatus(nc, logger)

  const jsOptions = options.jsDomain ? { domain: options.jsDomain } : {}
  let jsm: JetStreamManager
  try {
    jsm = await jetstreamManager(nc, jsOptions)
  } catch (err) {
    await nc.close().catch(() => {})
    throw new KrbfleetError(
      ErrorCode.Unavailable,
      `JetStream is not available on ${servers}: ${describe(err)}`,
      {
        cause: err,
      },
    )
  }
  const js = jetstream(nc, jsOptions)
  const kvm = new Kvm(js)
  const replicas = options.replicas ?? 1
  const publishAttempts = Math.max(1, options.publishAttempts ?? 6)
  const publishTimeoutMs = options.publishTimeoutMs ?? 2000
  const buckets = new Map<string, Promise<KV>>()

  async function ensureStream(def: StreamDefinition): Promise<void> {
    const wanted = streamConfig(def, replicas, { ...def.limits, ...options.streamLimits?.[def.name] })
    let actual: StreamConfig | undefined
    try {
      actual = (await jsm.streams.info(def.name)).config
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === 10059))
        throw toBusError(err, `stream ${def.name}`)
    }
    if (!actual) {
      try {
        await jsm.streams.add(wanted)
        logger.info({ stream: def.name }, 'created stream')
        return
      } catch (err) {
        // Another replica created it between our info and add: fall through to compare and update.
        actual = (await jsm.streams.info(def.name).catch(() => undefined))?.config
        if (!actual) throw toBusError(err, `stream ${def.name}`)
      }
    }
    const drift = streamDrift(wanted, actual)
    if (drift.length === 0) return
    await jsm.streams.update(def.name, { ...actual, ...wanted, num_replicas: actual.num_replicas })
    logger.info({ stream: def.name, changed: drift }, 'updated stream')
  }

  async function openBucket(def: KvDefinition): Promise<KV> {
    try {
      // Kvm.create opens an existing bucket as it is (never recreates it), so every replica may call it.
      const kv = await kvm.create(def.bucket, {
        history: def.history,
        description: def.description,
        storage: StorageType.File,
        replicas,
        max_bytes: def.limits.maxBytes,
        maxValueSize: def.limits.maxMessageBytes,
      })
      await ensureBucketLimits(def)
      return kv
    } catch (err) {
      throw toBusError(err, `bucket ${def.bucket}`)
    }
  }

  /** A bucket made before its limits were set (or with others) gets them: its stream is updated. */
  async function ensureBucketLimits(def: KvDefinition): Promise<void> {
    const name = `KV_${def.bucket}`
    const actual = (await jsm.streams.info(name)).config
    const wanted = {
      max_bytes: def.limits.maxBytes,
      max_msgs: def.limits.maxMessages,
      max_msg_size: def.limits.maxMessageBytes,
    }
    const drift = Object.entries(wanted).filter(
      ([field, value]) => actual[field as keyof typeof wanted] !== value,
    )
    if (drift.length === 0) return
    await jsm.streams.update(name, { ...actual, ...wanted })
    logger.info({ bucket: def.bucket, changed: drift.map(([field]) => field) }, 'updated bucket limits')
  }

  const bus: Bus = {
    nc,
    js,
    jsm,
    jsApiPrefix: options.jsDomain ? `$JS.${options.jsDomain}.API` : '$JS.API',
    logger,
    serverVersion,
    serverAtLeast: (version) => compareVersions(nc.info?.version ?? '0.0.0', version) >= 0,
    async ensureStreams() {
      for (const def of Object.values(streams)) await ensureStream(def)
    },
    kv(def) {
      let opened = buckets.get(def.bucket)
      if (!opened) {
        opened = openBucket(def)
        buckets.set(def.bucket, opened)
        // A failed open is not cached: the next call tries again.
        opened.catch(() => buckets.delete(def.bucket))
      }
      return opened
    },
    async publish(envelope) {
      const definition = eventsByType.get(envelope.type)
      if (!definition) {
        throw new KrbfleetError(ErrorCode.Invalid, `type: '${envelope.type}' is not a known event type`, {
          field: 'type',
        })
      }
      // Validate at the edge (STYLE rule 2): nothing malformed reaches the stream from us.
      const decoded = definition.decode(envelope)
      const subject = definition.subjectOf(decoded.data as never)
      const payload = JSON.stringify(envelope)
      for (let attempt = 1; ; attempt++) {
        try {
          const ack = await js.publish(subject, payload, {
            msgID: envelope.id,
            timeout: publishTimeoutMs,
          })
          return { seq: ack.seq, duplicate: ack.duplicate }
        } catch (err) {
          // Safe to retry: the msgID makes a repeat a duplicate that JetStream drops (STYLE rule 5).
          if (!isTransientNatsError(err) || attempt >= publishAttempts || nc.isClosed()) {
            throw toBusError(err, `publish of ${envelope.type} ${envelope.id}`)
          }
          const wait = backoffDelay({ initialMs: 200, maxMs: 2000 }, attempt)
          logger.warn(
            { eventType: envelope.type, eventId: envelope.id, attempt, waitMs: wait, err: describe(err) },
            'publish failed, retrying',
          )
          await sleep(wait)
        }
      }
    },
    isConnected: () => !nc.isClosed() && !nc.isDraining() && connectedFlag(nc),
    async close() {
      if (nc.isClosed()) return
      // A drain needs the server; while it is unreachable, give up after drainTimeoutMs and close,
      // so that a shutdown still ends within its deadline.
      let timer: NodeJS.Timeout | undefined
      const gaveUp = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), options.drainTimeoutMs ?? 2000)
      })
      const outcome = await Promise.race([nc.drain().then(() => 'drained' as const), gaveUp]).catch(
        () => 'failed' as const,
      )
      clearTimeout(timer)
      if (outcome !== 'drained') {
        await nc.close().catch(() => {})
        logger.warn({ outcome }, 'NATS connection closed without a complete drain')
        return
      }
      logger.info('NATS connection drained and closed')
    },
  }
  return bus
}

// nats.js keeps no public "connected" flag; the status stream tells us, so we track it per connection.
const disconnected = new WeakSet<NatsConnection>()
function connectedFlag(nc: NatsConnection): boolean {
  return !disconnected.has(nc)
}

async function watchStatus(nc: NatsConnection, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case 'disconnect':
        disconnected.add(nc)
        logger.warn({ server: status.server }, 'disconnected from NATS')
        break
      case 'reconnect':
        disconnected.delete(nc)
        logger.info({ server: status.server }, 'reconnected to NATS')
        break
      case 'reconnecting':
        logger.debug('reconnecting to NATS')
        break
      case 'ldm':
        logger.warn({ server: status.server }, 'NATS server entering lame duck mode')
        break
      case 'error':
        logger.error({ err: status.error }, 'NATS connection error')
        break
      case 'staleConnection':
        logger.warn('NATS connection is stale')
        break
      case 'slowConsumer':
        logger.warn({ subject: status.sub.getSubject(), pending: status.pending }, 'slow NATS subscriber')
        break
      case 'close':
        disconnected.add(nc)
        logger.info('NATS connection closed')
        break
      default:
        break
    }
  }
}

/** A server URL without its user-info part (`nats://***@host:4222`). */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@')
}

/** Compares dotted versions numerically (`2.9.10` < `2.10.0`); a pre-release suffix is ignored. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) =>
    v
      .replace(/^v/, '')
      .split(/[-+]/)[0]!
      .split('.')
      .map((p) => Number(p) || 0)
  const x = parse(a)
  const y = parse(b)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return 0
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
