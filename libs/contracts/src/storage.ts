/**
 * JetStream streams and KV buckets as data. `libs/bus` creates them idempotently; every service
 * names them from here. Only features of nats-server 2.9 are used (see lab/NOTES.md).
 */
import { EVENTS_SUBJECT_ROOT } from './envelope.ts'

export interface StreamDefinition {
  name: string
  subjects: string[]
  /** Maximum age of a message, in milliseconds. */
  maxAgeMs: number
  /** Window in which a repeated msgID is dropped, in milliseconds. */
  duplicateWindowMs: number
  description: string
}

export interface KvDefinition {
  bucket: string
  history: number
  description: string
}

const day = 24 * 60 * 60 * 1000

export const streams = {
  events: {
    name: 'KRBFLEET_EVENTS',
    subjects: [`${EVENTS_SUBJECT_ROOT}.>`],
    maxAgeMs: 90 * day,
    duplicateWindowMs: 2 * 60 * 1000,
    description: 'Every krbfleet event: topology, account, spn, agent and audit',
  },
} as const satisfies Record<string, StreamDefinition>

export const buckets = {
  /**
   * The draft, the enabled revisions and their snapshots, read and written only through
   * libs/topology-store (which owns the key layout). History 64 (the most JetStream keeps per key):
   * after a crash, the topology service rebuilds the events of unpublished draft versions from this
   * history, so it must outlast a burst of changes.
   */
  topology: { bucket: 'krbfleet-topology', history: 64, description: 'Topology draft and enabled revisions' },
  /** One key per account (`CORP.KERBAUTH`): its record and the current secret, sealed at rest. */
  accounts: {
    bucket: 'krbfleet-accounts',
    history: 5,
    description: 'Kerberos accounts and sealed current secrets',
  },
  /** One key per account: the SPNs krbfleet wrote and therefore owns. */
  spnOwnership: {
    bucket: 'krbfleet-spn-ownership',
    history: 5,
    description: 'SPNs managed by krbfleet per account',
  },
  /** Agent state reported by heartbeats (kvnos held), one key per server. */
  agents: { bucket: 'krbfleet-agents', history: 3, description: 'Agent heartbeats and held kvnos' },
  /** Rotation saga state, one key per rotation. */
  rotations: { bucket: 'krbfleet-rotations', history: 10, description: 'Rotation saga steps' },
} as const satisfies Record<string, KvDefinition>

/** An account id (`CORP\KERBAUTH`) as a KV key (`CORP.KERBAUTH`). */
export function accountKey(account: string): string {
  return account.replace('\\', '.')
}
