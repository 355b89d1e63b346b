/**
 * JetStream streams and KV buckets as data. `libs/bus` creates them idempotently; every service
 * names them from here. Only features of nats-server 2.9 are used (see lab/NOTES.md).
 */
import { EVENTS_SUBJECT_ROOT, HEARTBEATS_SUBJECT_ROOT } from './envelope.ts'

export interface StreamDefinition {
  name: string
  subjects: string[]
  /** Maximum age of a message, in milliseconds. */
  maxAgeMs: number
  /** Window in which a repeated msgID is dropped, in milliseconds. */
  duplicateWindowMs: number
  /** The stream's size limits: no stream may grow until JetStream's store is full. */
  limits: StreamLimits
  /** Messages kept per subject (the newest); absent: no such limit. */
  maxMessagesPerSubject?: number
  description: string
}

/**
 * JetStream limits of a stream or bucket. `discard: 'old'` drops the oldest messages when a limit is
 * reached, so new ones always publish (an event log); `'new'` refuses new messages instead.
 */
export interface StreamLimits {
  maxBytes: number
  maxMessages: number
  /** Largest single message, in bytes. */
  maxMessageBytes: number
  discard: 'old' | 'new'
}

export interface KvDefinition {
  bucket: string
  history: number
  /**
   * Size limits of the bucket's stream. Buckets discard new writes at their limit (JetStream KV's
   * only policy): a full bucket refuses a write with an error instead of losing an older value.
   */
  limits: Omit<StreamLimits, 'discard'>
  description: string
}

const day = 24 * 60 * 60 * 1000
const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/**
 * Sizing (docs/ARCHITECTURE.md "Stream limits"): an event is 0.3-2 KiB, so 1 GiB holds about a
 * million; JetStream reserves a stream's max_bytes from its store, so defaults stay modest and
 * KRBFLEET_NATS_EVENTS_MAX_BYTES raises them.
 */
const eventLimits: StreamLimits = {
  maxBytes: 1 * GiB,
  maxMessages: 5_000_000,
  maxMessageBytes: 64 * KiB,
  discard: 'old',
}

export const streams = {
  events: {
    name: 'KRBFLEET_EVENTS',
    subjects: [`${EVENTS_SUBJECT_ROOT}.>`],
    maxAgeMs: 90 * day,
    duplicateWindowMs: 2 * 60 * 1000,
    limits: eventLimits,
    description: 'Every krbfleet event: topology, account, spn, agent and audit',
  },
  /**
   * The agents' heartbeats, one subject per server: the newest 3 of each for at most a day. A fleet of
   * 10,000 agents beating once a minute publishes 14 million a day; this keeps 30,000 at most, and
   * the topology service keeps each agent's latest in the agents bucket (issue 16).
   */
  heartbeats: {
    name: 'KRBFLEET_HEARTBEATS',
    subjects: [`${HEARTBEATS_SUBJECT_ROOT}.>`],
    maxAgeMs: day,
    duplicateWindowMs: 2 * 60 * 1000,
    maxMessagesPerSubject: 3,
    limits: { maxBytes: 256 * MiB, maxMessages: 1_000_000, maxMessageBytes: 8 * KiB, discard: 'old' },
    description: 'Agent heartbeats: the latest few per server, for a day',
  },
} as const satisfies Record<string, StreamDefinition>

/** The stream that stores the events of a subject (filter): the heartbeats' own, or the events stream. */
export function streamOf(subject: string): StreamDefinition {
  return subject.startsWith(`${HEARTBEATS_SUBJECT_ROOT}.`) ? streams.heartbeats : streams.events
}

export const buckets = {
  /**
   * The draft, the enabled revisions and their snapshots, read and written only through
   * libs/topology-store (which owns the key layout). History 64 (the most JetStream keeps per key):
   * after a crash, the topology service rebuilds the events of unpublished draft versions from this
   * history, so it must outlast a burst of changes.
   */
  topology: {
    bucket: 'krbfleet-topology',
    history: 64,
    // Revision snapshots accumulate: 512 MiB holds hundreds of them even for a 1 MiB document.
    limits: { maxBytes: 512 * MiB, maxMessages: 10_000_000, maxMessageBytes: 1 * MiB },
    description: 'Topology draft and enabled revisions',
  },
  /** One key per account (`CORP.KERBAUTH`): its record and the current secret, sealed at rest. */
  accounts: {
    bucket: 'krbfleet-accounts',
    history: 5,
    limits: { maxBytes: 64 * MiB, maxMessages: 1_000_000, maxMessageBytes: 256 * KiB },
    description: 'Kerberos accounts and sealed current secrets',
  },
  /** One key per account: the SPNs krbfleet wrote and therefore owns. */
  spnOwnership: {
    bucket: 'krbfleet-spn-ownership',
    history: 5,
    limits: { maxBytes: 64 * MiB, maxMessages: 1_000_000, maxMessageBytes: 256 * KiB },
    description: 'SPNs managed by krbfleet per account',
  },
  /** Agent state reported by heartbeats (kvnos held), one key per server. */
  agents: {
    bucket: 'krbfleet-agents',
    history: 3,
    limits: { maxBytes: 256 * MiB, maxMessages: 1_000_000, maxMessageBytes: 64 * KiB },
    description: 'Agent heartbeats and held kvnos',
  },
  /**
   * The credential each server holds, retained: one key per server (`agentToken(server)`), the
   * latest credential sealed to that agent's key and signed by the account service
   * (credentials.ts). An agent reads only its own key; a deleted key is a revocation.
   */
  credentials: {
    bucket: 'krbfleet-credentials',
    history: 2,
    limits: { maxBytes: 256 * MiB, maxMessages: 1_000_000, maxMessageBytes: 64 * KiB },
    description: 'Sealed credentials, one per server',
  },
  /** Rotation saga state, one key per rotation. */
  rotations: {
    bucket: 'krbfleet-rotations',
    history: 10,
    limits: { maxBytes: 64 * MiB, maxMessages: 100_000, maxMessageBytes: 1 * MiB },
    description: 'Rotation saga steps',
  },
} as const satisfies Record<string, KvDefinition>

/** An account id (`CORP\KERBAUTH`) as a KV key (`CORP.KERBAUTH`). */
export function accountKey(account: string): string {
  return account.replace('\\', '.')
}
