import { IssuedCredential, KrbfleetError } from '@krbfleet/contracts'
import type { HeldKey } from '../ports.ts'

/**
 * What the agent does with the latest message of its credential key (the credentials bucket keeps
 * the last one per server, services/account credentials/issuer.ts). Pure: the receiver reads the
 * message and what the backend holds, this decides, the receiver acts.
 *
 * Rules (issue 11, "Bad input and faults"):
 * - nothing retained yet: nothing to do (an absent key never takes keys away: a bucket rebuilt
 *   empty must not empty every web server's keytab);
 * - a delete (revocation): every account the backend holds is removed;
 * - a credential for another server, sealed to another key, or whose outer fields do not decode,
 *   is rejected: reported, never installed, not retried (the same message is not looked at again);
 * - a kvno older than the active one is a replay: rejected the same way;
 * - the active kvno again: nothing to do (a restart, a redelivery);
 * - otherwise install it (stage, activate), keep the previous active kvno beside it for tickets
 *   already issued, and remove every other account the backend holds (the site's assignment moved).
 */

export interface AgentIdentity {
  server: string
  /** libs/sealing keyIdOf of the agent's public key. */
  keyId: string
}

export type RetainedMessage = { kind: 'absent' } | { kind: 'revoked' } | { kind: 'put'; data: Uint8Array }

export type Decision =
  | { kind: 'none'; why: string }
  | { kind: 'install'; credential: IssuedCredential; keep: number[]; remove: string[] }
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
  const { account, kvno } = credential
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
  const active = held.find((h) => h.account === account && h.active)?.kvno
  const others = accounts.filter((a) => a !== account)
  if (active !== undefined && kvno < active) {
    return {
      kind: 'reject',
      account,
      kvno,
      reason: `kvno ${kvno} of ${account} is older than the active kvno ${active}: a replayed credential is not installed`,
    }
  }
  if (active === kvno) {
    return others.length > 0
      ? { kind: 'remove', accounts: others }
      : { kind: 'none', why: `kvno ${kvno} of ${account} is already active` }
  }
  return {
    kind: 'install',
    credential,
    keep: active === undefined ? [kvno] : [kvno, active],
    remove: others,
  }
}
