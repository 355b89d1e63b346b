export { type BackoffPolicy, backoffDelay, sleep } from './backoff.ts'
export {
  type Bus,
  type ConnectBusOptions,
  compareVersions,
  connectBus,
  type PublishResult,
  streamConfig,
  streamDrift,
  withoutCredentials,
} from './connect.ts'
export {
  type ConsumeEventsOptions,
  consumeEvents,
  consumerConfig,
  consumerLag,
  consumerDrift,
  doublingRedeliveryBackoff,
  type EnvelopeOf,
  type EventConsumer,
  type EventContext,
} from './consume.ts'
export { isTransientNatsError, toBusError } from './errors.ts'
export { busHealth } from './health.ts'
export { InFlight } from './in-flight.ts'
export {
  eventOfMessage,
  followEventLog,
  type LoggedEvent,
  readEventLog,
  sequenceAt,
} from './event-log.ts'
export {
  ReconcileDeferred,
  ReconcileQueue,
  type ReconcileQueueOptions,
  type ReconcileQueueStats,
} from './reconcile-queue.ts'
export {
  ActorHeader,
  type CallRpcOptions,
  CorrelationIdHeader,
  callRpc,
  MAX_REPLY_PARTS,
  PartHeader,
  type RpcContext,
  type RpcReply,
  type RpcServer,
  type ServeRpcOptions,
  serveRpc,
} from './rpc.ts'
export type { KV } from '@nats-io/kv'
export {
  AbandonedConnectError,
  busOptionsFromSettings,
  type ConnectBusFromSettingsOptions,
  connectBusFromSettings,
  NatsSettings,
  type NatsSettingsInput,
} from './settings.ts'
