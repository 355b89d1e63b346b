import type { KeyObject } from 'node:crypto'
import type { Bus } from '@krbfleet/bus'
import {
  CredentialPayload,
  type CredentialPhase,
  credentialContext,
  type EventEnvelope,
  type IssuedCredential,
} from '@krbfleet/contracts'
import { deriveAccountKeys, exportAccountKeys } from '@krbfleet/kerberos'
import { seal } from '@krbfleet/sealing'
import { storedEvents as stored, storedHeartbeats } from '@krbfleet/testing/world'

/**
 * What the account service retains for one server (services/account credentials/issuer.ts), built
 * the same way for tests that play the account service: keys derived from `password`, sealed to the
 * agent's key, signed by `by`.
 */
export function issueCredential(options: {
  server: string
  account: string
  kvno: number
  /** active (default): the kvno AD has; staged: a rotation's next kvno. */
  phase?: CredentialPhase
  /** Older kvnos the server keeps beside this one (default none). */
  keep?: number[]
  rotationId?: string
  to: { publicKey: KeyObject; keyId: string }
  by: { privateKey: KeyObject; keyId: string }
  password?: string
  realm?: string
  dnsDomain?: string
  /** Keys that do not fit their enctype (the backend refuses them). */
  badKey?: boolean
}): IssuedCredential {
  const { server, account, kvno } = options
  const phase = options.phase ?? 'active'
  const dnsDomain = options.dnsDomain ?? 'corp.example.com'
  const keys = exportAccountKeys(
    deriveAccountKeys({
      password: options.password ?? `password of ${account} at ${kvno}`,
      realm: options.realm ?? dnsDomain.toUpperCase(),
      samAccountName: `${account.split('\\')[1]}$`,
      dnsDomain,
      kvno,
    }),
  )
  const issuedAt = new Date().toISOString()
  const payload = CredentialPayload.decode({
    server,
    account,
    principal: keys.principal,
    kvno,
    keys: options.badKey ? keys.keys.map((k) => ({ ...k, key: 'AAAA' })) : keys.keys,
    issuedAt,
  })
  return {
    server,
    account,
    kvno,
    phase,
    keep: options.keep ?? [],
    ...(options.rotationId === undefined ? {} : { rotationId: options.rotationId }),
    recipient: options.to.keyId,
    issuedAt,
    sealed: seal(payload, {
      recipientPublicKey: options.to.publicKey,
      signer: options.by,
      context: credentialContext(server, account, kvno, phase),
    }),
  }
}

/** Every event of the events stream whose type starts with `prefix` (`krbfleet.agent.`), in order. */
export const storedEvents = (bus: Bus, prefix: string): Promise<EventEnvelope[]> =>
  stored(bus, { typePrefix: prefix })

export { storedHeartbeats }
