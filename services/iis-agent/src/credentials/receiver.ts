import { createHash, type KeyObject } from 'node:crypto'
import type { Bus } from '@krbfleet/bus'
import {
  CredentialApplied,
  CredentialApplyFailed,
  CredentialPayload,
  CredentialRemoved,
  CredentialStaged,
  credentialContext,
  type EventEnvelope,
  type IssuedCredential,
  KrbfleetError,
  subjects,
} from '@krbfleet/contracts'
import { openSealed, type KeyInput, type TrustedSigner } from '@krbfleet/sealing'
import type { Logger } from 'pino'
import { agentActor, type HeldKvno } from '../domain/heartbeat.ts'
import type { BackendHealth, CredentialBackend, HeldKey } from '../ports.ts'
import { type Decision, decideDelivery, type RetainedMessage } from './decide.ts'

export interface CredentialReceiverOptions {
  bus: Bus
  logger: Logger
  server: string
  /** The agent's X25519 key pair (adapters/fs/key-store.ts): the private half opens credentials. */
  key: { privateKey: KeyObject; keyId: string }
  /** The account service's Ed25519 public key (KRBFLEET_AGENT_SIGNER_KEY), or several during a change. */
  signer: KeyInput | readonly TrustedSigner[]
  backend: CredentialBackend
  /** How often the retained credential is read again, to catch a message missed while away. */
  refreshIntervalMs: number
  /** Per refresh that found something to do (metrics). */
  onOutcome?(outcome: ReceiveOutcome): void
  /**
   * What the backend holds or its health changed since the last look (the first look included)
   * and no report said it (an install's report carries what the server holds): report it now.
   */
  onHeldChanged?(): void
}

export type ReceiveOutcome = 'staged' | 'installed' | 'retired' | 'removed' | 'rejected' | 'failed'

export interface CredentialReceiver {
  /** Reads the retained credential now and applies it; resolves when done (concurrent calls share one run). */
  refresh(): Promise<void>
  /** The kvnos the backend held at the last refresh, for the heartbeat. */
  held(): HeldKvno[]
  /** The backend's health at the last refresh. */
  health(): BackendHealth
  stop(): Promise<void>
}

/** Reads (about 8 s at 250 ms doubling to 1 s) that wait for a replica to catch up with the bell. */
const maxBehindReads = 10

/** A reason within the event's 1024 characters. */
const bounded = (reason: string) => (reason.length > 1000 ? `${reason.slice(0, 999)}…` : reason)

/**
 * Receives this server's credential and installs it (issue 11). The agent's NATS user may read only
 * its own key of the credentials bucket (deploy/nats agentUser), and needs no JetStream consumer:
 * the account service rings the server's credential bell (a core subject) after it puts or deletes
 * the key, and every ring, every `refreshIntervalMs`, every reconnect and the start read the LATEST
 * message of the key with a direct get. So the order of messages never matters (only the latest is ever
 * applied), a message missed while offline is read at the next refresh, and a message that was
 * rejected (wrong key, bad signature, replayed kvno, malformed) is not looked at again: its stream
 * sequence is remembered. A backend failure (disk full, permission) leaves the previous credential
 * in place, is reported, and the next refresh tries again.
 */
export function startCredentialReceiver(options: CredentialReceiverOptions): CredentialReceiver {
  const { bus, server, backend } = options
  const logger = options.logger.child({ component: 'credential-receiver' })
  const self = { server, keyId: options.key.keyId }
  let heldCache: HeldKey[] = []
  let healthCache: BackendHealth = { ok: true }
  /** The stream sequence of the last message handled for good (applied, or rejected). */
  let settledSeq: string | undefined
  let running: Promise<void> | undefined
  let again = false
  let stopped = false
  /** Reads failed in a row (retrySoon). */
  let failedReads = 0
  /**
   * The newest stream sequence a bell announced, and the reads in a row that returned an older one:
   * after {@link maxBehindReads} (a bucket recreated, its sequence reset) what is read counts.
   */
  let expectedSeq = 0
  let behindReads = 0

  let looked = false
  /** Reads what the backend holds and its health; which of them changed since the last look. */
  const look = async (): Promise<{ held: boolean; health: boolean }> => {
    const before = { held: JSON.stringify(heldCache), health: JSON.stringify(healthCache) }
    heldCache = await backend.held()
    healthCache = await backend.health()
    const changed = {
      held: !looked || JSON.stringify(heldCache) !== before.held,
      health: !looked || JSON.stringify(healthCache) !== before.health,
    }
    looked = true
    return changed
  }
  const snapshot = async () => {
    const changed = await look()
    if (changed.held || changed.health) options.onHeldChanged?.()
  }
  const heldKvnos = (): HeldKvno[] => heldCache.map((h) => ({ account: h.account, kvno: h.kvno }))
  /** The install of this run looked at the backend after it (no second look needed). */
  let lookedAfterInstall = false

  /** Publishes a report; false when it did not go out (logged). */
  const publish = async (event: EventEnvelope): Promise<boolean> => {
    try {
      await bus.publish(event)
      return true
    } catch (err) {
      logger.warn({ err, type: event.type }, 'report not published (the heartbeat still shows the state)')
      return false
    }
  }
  const eventId = (kind: string, seq: string, detail = '') =>
    `credential-${kind}-${createHash('sha256').update(`${server} ${seq} ${detail}`).digest().subarray(0, 16).toString('base64url')}`
  /** A report's id and actor; a rotation's reports carry its id as correlation id. */
  const meta = (kind: string, seq: string, detail?: string, rotationId?: string) => ({
    id: eventId(kind, seq, detail),
    actor: agentActor(server),
    ...(rotationId ? { correlationId: rotationId } : {}),
  })

  /** The first failed read after a good one is a warning; the retries that follow are debug. */
  const unread = (detail: object, message: string) =>
    failedReads === 0 ? logger.warn(detail, message) : logger.debug(detail, message)

  const read = async (): Promise<{ seq: string; message: RetainedMessage } | undefined> => {
    try {
      // A direct get answers in milliseconds; one whose reply was lost (sent as the connection came
      // back, before the leaf told the hub about the reply inbox) is asked again soon (retrySoon).
      const reply = await bus.nc.request(subjects.agentCredentialGet(server, bus.jsApiPrefix), undefined, {
        timeout: 2000,
      })
      const code = reply.headers?.code ?? 0
      if (code === 404) return { seq: 'none', message: { kind: 'absent' } }
      if (code !== 0) {
        unread({ code, description: reply.headers?.description }, 'credential not read; tried again soon')
        return undefined
      }
      const seq = reply.headers?.get('Nats-Sequence') ?? ''
      const operation = reply.headers?.get('KV-Operation')
      if (operation === 'DEL' || operation === 'PURGE') return { seq, message: { kind: 'revoked' } }
      return { seq, message: { kind: 'put', data: reply.data } }
    } catch (err) {
      unread({ err }, 'credential not read (cut off from the hub? no credentials bucket?); tried again soon')
      return undefined
    }
  }

  /** Refused for good: reported once, never installed, the message not looked at again. */
  const reject = async (
    seq: string,
    { account, kvno, reason }: { account?: string; kvno?: number; reason: string },
  ): Promise<ReceiveOutcome> => {
    logger.error({ seq, account, kvno, reason }, 'credential rejected; nothing installed')
    reason = bounded(reason)
    settledSeq = seq
    await publish(
      CredentialApplyFailed.create(
        { server, reason, ...(account ? { account } : {}), ...(kvno === undefined ? {} : { kvno }) },
        meta('rejected', seq),
      ),
    )
    return 'rejected'
  }

  const act = async (seq: string, decision: Decision): Promise<ReceiveOutcome | undefined> => {
    switch (decision.kind) {
      case 'none':
        logger.debug({ seq, why: decision.why }, 'credential: nothing to do')
        settledSeq = seq
        return undefined
      case 'reject':
        return await reject(seq, decision)
      case 'remove':
        for (const account of decision.accounts) await backend.remove(account)
        settledSeq = seq
        for (const account of decision.accounts) {
          logger.info({ account }, 'credential revoked and removed')
          await publish(CredentialRemoved.create({ server, account }, meta('removed', seq, account)))
        }
        return 'removed'
      case 'stage':
      case 'install':
        return await install(seq, decision)
      case 'retire':
        await backend.retire(decision.account, decision.keep)
        for (const account of decision.remove) await backend.remove(account)
        settledSeq = seq
        logger.info(
          { account: decision.account, retired: decision.drop, kept: decision.keep },
          'kvnos no longer kept were dropped',
        )
        for (const account of decision.remove) {
          await publish(CredentialRemoved.create({ server, account }, meta('removed', seq, account)))
        }
        return decision.remove.length > 0 ? 'removed' : 'retired'
    }
  }

  /** Stages (beside the active kvno) or installs (and switches to) the credential's kvno. */
  const install = async (
    seq: string,
    decision: Extract<Decision, { kind: 'stage' | 'install' }>,
  ): Promise<ReceiveOutcome> => {
    const { credential } = decision
    const { account, kvno, rotationId } = credential
    const staging = decision.kind === 'stage'
    const opened = open(credential)
    if (typeof opened === 'string') return await reject(seq, { account, kvno, reason: opened })
    try {
      const installed = {
        account,
        principal: opened.principal,
        kvno,
        keys: opened.keys,
        ...(opened.password === undefined ? {} : { password: opened.password }),
      }
      if (backend.install) await backend.install(installed, { activate: !staging, keep: decision.keep })
      else {
        await backend.stage(installed)
        if (!staging) await backend.activate(account, kvno)
        await backend.retire(account, decision.keep)
      }
      for (const other of decision.remove) await backend.remove(other)
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      // A credential the backend refuses by rule (keys that do not fit, another principal) will not
      // install on a retry either; a disk or permission fault may clear: the next refresh retries.
      if (err instanceof KrbfleetError && !err.retryable) return await reject(seq, { account, kvno, reason })
      logger.error(
        { err, account, kvno },
        'credential not installed; the previous one stays; the next refresh tries again',
      )
      await publish(
        CredentialApplyFailed.create(
          { server, account, kvno, reason: bounded(reason) },
          meta('failed', seq, reason, rotationId),
        ),
      )
      return 'failed'
    }
    settledSeq = seq
    // The report says what the server holds now, so that no heartbeat has to follow it; one does
    // when the report did not go out, what is held could not be read, or the health changed.
    const changed = await look().catch((err) => {
      logger.warn({ err }, 'backend state not read')
      return undefined
    })
    lookedAfterInstall = changed !== undefined
    const held = changed ? { held: heldKvnos() } : {}
    const data = { server, account, kvno, ...held }
    let reported: boolean
    if (staging) {
      logger.info(
        { account, kvno, kept: decision.keep, rotationId },
        'credential staged beside the active one',
      )
      reported = await publish(CredentialStaged.create(data, meta('staged', seq, '', rotationId)))
    } else {
      logger.info({ account, kvno, kept: decision.keep, rotationId }, 'credential installed')
      reported = await publish(CredentialApplied.create(data, meta('applied', seq, '', rotationId)))
    }
    if (!reported || !changed || changed.health) options.onHeldChanged?.()
    for (const other of decision.remove) {
      await publish(CredentialRemoved.create({ server, account: other }, meta('removed', seq, other)))
    }
    return staging ? 'staged' : 'installed'
  }

  /** The sealed payload, checked against the outer fields; a string says why it is refused. */
  const open = (credential: IssuedCredential): CredentialPayload | string => {
    let payload: CredentialPayload
    try {
      payload = CredentialPayload.decode(
        openSealed(credential.sealed, {
          recipientPrivateKey: options.key.privateKey,
          signerPublicKey: options.signer,
          context: credentialContext(server, credential.account, credential.kvno, credential.phase),
        }),
      )
    } catch (err) {
      // SealingError and ValidationError messages name the rule, never key material.
      return `the credential does not open: ${err instanceof Error ? err.message : String(err)}`
    }
    if (
      payload.server !== server ||
      payload.account !== credential.account ||
      payload.kvno !== credential.kvno
    ) {
      return 'the sealed credential does not match its envelope (server, account or kvno)'
    }
    return payload
  }

  /**
   * A read that failed (the leaf node back before its link to the hub, a JetStream leader
   * election) is tried again soon, 250 ms doubling up to 1 s (or the refresh interval), not only at
   * the next refresh: a site that returns catches up within seconds. A failed read costs one
   * message to the server the agent is connected to.
   */
  let retry: NodeJS.Timeout | undefined
  const retrySoon = () => {
    clearTimeout(retry)
    retry = setTimeout(
      () => void refresh(),
      Math.min(options.refreshIntervalMs, 1000, 250 * 2 ** failedReads++),
    )
    retry.unref()
  }

  const runOnce = async () => {
    // Away from NATS a request would wait in the client's buffer: the reconnect refreshes instead.
    if (!bus.isConnected()) return
    const retained = await read()
    if (stopped) return
    if (!retained) return retrySoon()
    const seq = Number(retained.seq)
    if (Number.isSafeInteger(seq) && seq < expectedSeq && behindReads++ < maxBehindReads) {
      // A replica of the R3 bucket that has not applied the put the bell rang for yet answered
      // the direct get: ask again soon, not at the next refresh.
      logger.debug(
        { seq, expected: expectedSeq },
        'credential read from a replica behind the bell; reading again',
      )
      return retrySoon()
    }
    failedReads = 0
    behindReads = 0
    clearTimeout(retry)
    if (retained.seq === settledSeq) {
      await snapshot().catch((err) => logger.warn({ err }, 'backend state not read'))
      return
    }
    let outcome: ReceiveOutcome | undefined
    lookedAfterInstall = false
    try {
      const held = await backend.held()
      outcome = await act(retained.seq, decideDelivery(self, held, retained.message))
    } catch (err) {
      logger.error({ err }, 'credential not applied; the next refresh tries again')
      outcome = 'failed'
    }
    if (!lookedAfterInstall) await snapshot().catch((err) => logger.warn({ err }, 'backend state not read'))
    if (outcome) options.onOutcome?.(outcome)
  }

  const refresh = (): Promise<void> => {
    if (stopped) return Promise.resolve()
    if (running) {
      again = true
      return running
    }
    running = (async () => {
      do {
        again = false
        await runOnce()
      } while (again && !stopped)
    })().finally(() => {
      running = undefined
    })
    return running
  }

  // The bell: the account service rings it after each put or delete (only the latest message counts).
  // The bell carries the stream sequence of the put it rings for (empty for a delete).
  const subscription = bus.nc.subscribe(subjects.agentCredential(server), {
    callback: (_err, msg) => {
      const rung = Number.parseInt(msg.string(), 10)
      if (Number.isSafeInteger(rung) && rung > expectedSeq) {
        expectedSeq = rung
        behindReads = 0
      }
      void refresh()
    },
  })
  const timer = setInterval(() => void refresh(), options.refreshIntervalMs)
  timer.unref()
  void (async () => {
    for await (const status of bus.nc.status()) {
      if (stopped) return
      if (status.type === 'reconnect') {
        // Back: reads failed while away must not slow the catch-up.
        failedReads = 0
        void refresh()
      }
    }
  })()
  void snapshot()
    .catch((err) => logger.warn({ err }, 'backend state not read'))
    .then(() => refresh())

  return {
    refresh,
    held: heldKvnos,
    health: () => healthCache,
    async stop() {
      stopped = true
      clearInterval(timer)
      clearTimeout(retry)
      subscription.unsubscribe()
      await running
    },
  }
}
