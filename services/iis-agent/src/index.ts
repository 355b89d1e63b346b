export * from './domain/credential-lifecycle.ts'
export * from './domain/heartbeat.ts'
export {
  type Enrolment,
  type EnrolmentOptions,
  type EnrolOutcome,
  EnrolmentStoppedError,
  enrolOnce,
  startEnrolment,
} from './adapters/nats/enrolment.ts'
export { type Heartbeat, type HeartbeatOptions, startHeartbeat } from './adapters/nats/heartbeat.ts'
export {
  type AgentKey,
  AgentKeyFileError,
  type KeyStoreOptions,
  loadOrCreateAgentKey,
} from './adapters/fs/key-store.ts'
export {
  AgentConfig,
  type AgentSettings,
  defaultKeyFileName,
  defaultStateDir,
  resolveAgentConfig,
} from './config.ts'
export { type AgentInstance, type StartAgentOptions, startAgent } from './start.ts'
export * from './adapters/iis/index.ts'
export * from './adapters/keytab/index.ts'
export {
  type CredentialReceiver,
  type CredentialReceiverOptions,
  type ReceiveOutcome,
  startCredentialReceiver,
} from './credentials/receiver.ts'
export {
  type AgentIdentity,
  type Decision,
  decideDelivery,
  type RetainedMessage,
} from './credentials/decide.ts'
export { createBackend } from './backends.ts'
