import type { KeyObject } from 'node:crypto'
import { InFlight } from '@krbfleet/bus'
import {
  CredentialIssued,
  CredentialPayload,
  credentialContext,
  type IssuedCredential,
} from '@krbfleet/contracts'
import {
  deriveAccountKeys,
  exportAccountKeys,
  type PortableAccountKeys,
  wipeKeytabEntries,
} from '@krbfleet/kerberos'
import { keyIdOf, importPublicKey, seal } from '@krbfleet/sealing'
import type { Logger } from 'pino'
import type { DomainInfo } from '../domain/account.ts'
import { type DesiredSecret, desiredSecret, planDeliveries } from '../domain/deliveries.ts'
import type { AccountStore, CredentialBucket, EnabledTopologySource, EventSink, SecretBox } from '../ports.ts'

export interface CredentialIssuerOptions {
  topology: EnabledTopologySource
  store: AccountStore
  secrets: SecretBox
  bucket: CredentialBucket
  events: EventSink
  /** The account service's Ed25519 signing key; agents trust its public half. */
  signer: { privateKey: KeyObject; keyId: string }
  domain: DomainInfo
  logger: Logger
  now?: () => Date
  /** Called at each key derivation (string-to-key): the /metrics counter, read by the fleet benchmark. */
  onDerivation?: () => void
  /** Bucket writes in flight at once (default {@link DEFAULT_IN_FLIGHT}; 1 serves one server at a time). */
  inFlight?: number
}

/** Enough to keep NATS busy, few enough that a failing bucket is not flooded. */
export const DEFAULT_IN_FLIGHT = 128

/**
 * Issues to every web server the credential of its site's account (domain/deliveries.ts): keys
 * derived once per account and kvno (AES256 + AES128, the AD salt), sealed to each enrolled
 * agent's key and signed, retained in the credentials bucket so that an agent offline now, or
 * enrolled later, gets it when it connects; revoked (deleted) when the server leaves the topology,
 * its site loses the assignment or its agent has no key. Run by the sweep and after each password
 * write; every run converges from what the bucket holds, so a run cut short is finished by the next.
 */
export class CredentialIssuer {
  readonly #options: CredentialIssuerOptions
  readonly #log: Logger
  readonly #now: () => Date
  #running: Promise<{ issued: number; revoked: number }> | undefined
  /**
   * The keys of each account's latest secret, by its sealed value: derived once per secret, so a
   * rotation derives once for its staged and its active phase, whatever the number of servers.
   */
  readonly #derived = new Map<string, { sealed: string; keys: PortableAccountKeys; password: string }>()

  constructor(options: CredentialIssuerOptions) {
    this.#options = options
    this.#log = options.logger.child({ component: 'credential-issuer' })
    this.#now = options.now ?? (() => new Date())
  }

  readonly #forced = new Set<string>()

  /**
   * Issues `server`'s credential again at the next run, whatever the bucket says it holds (`password
   * copy`), and waits for that run.
   */
  async reissue(server: string): Promise<void> {
    this.#forced.add(server)
    await this.#running?.catch(() => {})
    await this.reconcile()
  }

  /** One reconcile; concurrent callers share the run in progress. */
  reconcile(): Promise<{ issued: number; revoked: number }> {
    this.#running ??= this.#reconcile().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #reconcile(): Promise<{ issued: number; revoked: number }> {
    const { topology, store, bucket } = this.#options
    const [enabled, records, held] = await Promise.all([
      topology.enabledTopology(),
      store.list(),
      bucket.list(),
    ])
    const now = this.#now()
    const secrets = new Map<string, { desired: DesiredSecret; sealed: string; sam: string }>()
    for (const record of records) {
      const wanted = desiredSecret(record, now)
      if (wanted) secrets.set(record.account, { ...wanted, sam: record.samAccountName })
    }
    const forced = new Set(this.#forced)
    this.#forced.clear()
    const plan = planDeliveries(
      enabled,
      new Map([...secrets].map(([account, s]) => [account, s.desired])),
      forced.size === 0 ? held : new Map([...held].filter(([server]) => !forced.has(server))),
      (key) => keyIdOf(importPublicKey(key, 'x25519')),
    )
    let issued = 0
    // Sealing is CPU (derive once, then one seal per server); the bucket writes and announcements
    // are network round trips, kept `inFlight` at a time so that a fleet is not served one by one.
    const writes = new InFlight(this.#options.inFlight ?? DEFAULT_IN_FLIGHT)
    // Announcing is not delivering: the events are published beside the writes, not in their places.
    const announced: Promise<unknown>[] = []
    for (const delivery of plan.issue) {
      const secret = secrets.get(delivery.account)
      if (!secret) continue
      let credential: IssuedCredential
      try {
        credential = this.#seal(delivery, secret)
      } catch (err) {
        // One server's failure (a bad enrolled key) must not hold back the others.
        this.#log.error(
          { err, server: delivery.server, account: delivery.account },
          'could not issue the credential',
        )
        continue
      }
      await writes.run(async () => {
        try {
          await bucket.put(credential)
        } catch (err) {
          this.#log.error(
            { err, server: delivery.server, account: delivery.account },
            'could not issue the credential',
          )
          return
        }
        issued++
        const { server, account, kvno, phase, keep, rotationId } = credential
        this.#log.debug({ server, account, kvno, phase, keep }, 'credential issued')
        announced.push(
          this.#options.events
            .publish(
              CredentialIssued.create(
                { account, server, kvno, ...(rotationId ? { rotationId } : {}) },
                { actor: 'service:account', ...(rotationId ? { correlationId: rotationId } : {}) },
              ),
            )
            .catch((err) => this.#log.warn({ err, server }, 'could not announce the credential')),
        )
      })
    }
    await writes.drain()
    await Promise.all(announced)
    for (const server of plan.revoke) {
      await bucket.delete(server)
      this.#log.info({ server }, 'credential revoked')
    }
    return { issued, revoked: plan.revoke.length }
  }

  /** The delivery's credential: its account's keys (derived once per secret) sealed to the agent. */
  #seal(
    delivery: ReturnType<typeof planDeliveries>['issue'][number],
    secret: { desired: DesiredSecret; sealed: string; sam: string },
  ): IssuedCredential {
    let material = this.#derived.get(delivery.account)
    if (material?.sealed !== secret.sealed) {
      const password = this.#options.secrets.open(delivery.account, secret.sealed)
      const entries = deriveAccountKeys({
        password,
        realm: this.#options.domain.dnsDomain.toUpperCase(),
        samAccountName: secret.sam,
        dnsDomain: this.#options.domain.dnsDomain,
        kvno: secret.desired.kvno,
      })
      material = { sealed: secret.sealed, keys: exportAccountKeys(entries), password }
      wipeKeytabEntries(entries)
      this.#derived.set(delivery.account, material)
      this.#options.onDerivation?.()
    }
    const issuedAt = this.#now().toISOString()
    const { phase, keep, rotationId } = delivery
    const payload = CredentialPayload.decode({
      server: delivery.server,
      account: delivery.account,
      principal: material.keys.principal,
      kvno: delivery.kvno,
      keys: material.keys.keys,
      ...(delivery.withPassword ? { password: material.password } : {}),
      issuedAt,
    })
    const recipient = importPublicKey(delivery.encryptionKey, 'x25519')
    return {
      server: delivery.server,
      account: delivery.account,
      kvno: delivery.kvno,
      phase,
      keep,
      ...(rotationId ? { rotationId } : {}),
      recipient: keyIdOf(recipient),
      issuedAt,
      sealed: seal(payload, {
        recipientPublicKey: recipient,
        signer: this.#options.signer,
        context: credentialContext(delivery.server, delivery.account, delivery.kvno, phase),
      }),
    }
  }
}
