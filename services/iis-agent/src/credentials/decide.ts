import { IssuedCredential, KrbfleetError } from '@krbfleet/contracts'
import type { HeldKey } from '../ports.ts'

/**
 * What the agent does with the latest message of its credential key (the credentials bucket keeps
 * the last one per server, services/account credentials/issuer.ts). Pure: the receiver reads the
 * message and what the backend holds, this decides, the receiver acts.
 *
 * Rules (issues 11 and 12):
 * - nothing retained yet: nothing to do (an absent key never takes keys away: a bucket rebuilt
 *   empty must not empty every web server's keytab);
 * - a delete (revocation): every account the backend holds is removed;
 * - a credential for another server, sealed to another key, or whose outer fields do not decode,
 *   is rejected: reported, never installed, not retried (the same message is not looked at again);
 * - a kvno older than the active one is a replay: rejected the same way;
 * - a STAGED kvno (a rotation's next one, AD does not have it yet) is put beside the active one,
 *   which stays in use (the two-phase rotation, ARCHITECTURE.md);
 * - an ACTIVE kvno newer than the active one is installed and switched to;
 * - the active kvno again: only what the credential no longer keeps goes (an aborted rotation's
 *   staged kvno, an old kvno past the maximum ticket lifetime);
 * - the server keeps exactly: this kvno, the active one while this one is only staged, and the
 *   credential's `keep` list; every other account the backend holds is removed (the site's
 *   assignment moved).
 */

export interface AgentIdentity {
  server: string
  /** libs/sealing keyIdOf of the agent's public key. */
  keyId: string
}

export type RetainedMessage = { kind: 'absent' } | { kind: 'revoked' } | { kind: 'put'; data: Uint8Array }

export type Decision =
  | { kind: 'none'; why: string }
  | { kind: 'stage' | 'install'; credential: IssuedCredential; keep: number[]; remove: string[] }
  | { kind: 'retire'; account: string; keep: number[]; drop: number[]; remove: string[] }
  | { kind: 'remove'; accounts: string[] }
  | { kind: 'reject'; account?: string; kvno?: number; reason: string }

export function decideDelivery(
  self: AgentIdentity,
  held: readonly HeldKey[],
  message: RetainedMessage,
): Decision {
  const accounts = [...new Set(held.map((h) => h.account))].sort()
  if (message.kind === 'absent') return { kind: 'none', why: 'no credential has been issued to this server' }
  if (message.kind === 'revoked') {
    return accounts.length === 0
      ? { kind: 'none', why: 'revoked, and nothing is held' }
      : { kind: 'remove', accounts }
  }
  let credential: IssuedCredential
  try {
    credential = IssuedCredential.decode(
      JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(message.data)),
    )
  } catch (err) {
    const why = err instanceof KrbfleetError || err instanceof SyntaxError ? err.message : 'not UTF-8 text'
    return { kind: 'reject', reason: `the retained credential is malformed: ${why}` }
  }
  const { account, kvno, phase } = credential
  if (credential.server !== self.server) {
    return {
      kind: 'reject',
      account,
      kvno,
      reason: `the credential is for ${credential.server}, not ${self.server}`,
    }
  }
  if (credential.recipient !== self.keyId) {
    return {
      kind: 'reject',
      account,
      kvno,
      reason: `the credential is sealed to key ${credential.recipient}, not this agent's key ${self.keyId} (enrolled again since? the account service seals it anew)`,
    }
  }
  const mine = held.filter((h) => h.account === account)
  const active = mine.find((h) => h.active)?.kvno
  const remove = accounts.filter((a) => a !== account)
  if (active !== undefined && kvno < active) {
    return {
      kind: 'reject',
      account,
      kvno,
      reason: `kvno ${kvno} of ${account} is older than the active kvno ${active}: a replayed credential is not installed`,
    }
  }
  const besides = phase === 'staged' && active !== undefined ? [active] : []
  const keep = [...new Set([kvno, ...besides, ...credential.keep])].sort((a, b) => b - a)
  if (active !== kvno) return { kind: phase === 'staged' ? 'stage' : 'install', credential, keep, remove }
  const drop = [...new Set(mine.map((h) => h.kvno))].filter((k) => !keep.includes(k)).sort((a, b) => a - b)
  if (drop.length === 0 && remove.length === 0)
    return { kind: 'none', why: `kvno ${kvno} of ${account} is already active` }
  return { kind: 'retire', account, keep, drop, remove }
}
