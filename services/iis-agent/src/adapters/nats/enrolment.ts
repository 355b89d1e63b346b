import { readFile, rm } from 'node:fs/promises'
import { type BackoffPolicy, type Bus, backoffDelay, callRpc, sleep } from '@krbfleet/bus'
import { type ChangeResult, ErrorCode, KrbfleetError, TopologyOperation } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { agentActor } from '../../domain/heartbeat.ts'

/**
 * Enrolment: the agent tells the topology service (`agent.enrol`) which X25519 public key its
 * credentials must be sealed to. The topology side is idempotent (the same key again changes
 * nothing), so the agent enrols at every start. A server that is not in the topology yet is not a
 * crash: it may be added later, so the agent retries with backoff until it is.
 */
export interface EnrolmentOptions {
  bus: Bus
  logger: Logger
  server: string
  /** base64url of the raw X25519 public key. */
  encryptionKey: string
  /**
   * The file holding the server's one-time enrolment token (`krbfleet agent token SERVER`), read at
   * every attempt (an operator may put it there while the agent retries) and deleted once used.
   */
  tokenFile?: string
  /** Default 1 s doubling up to 60 s (with jitter, libs/bus backoffDelay). */
  backoff?: BackoffPolicy
  /** Per attempt (default 10 s). */
  timeoutMs?: number
  /** Called after each attempt (metrics). */
  onAttempt?(outcome: EnrolOutcome): void
}

export type EnrolOutcome =
  | 'enrolled'
  | 'unchanged'
  | 'not_in_topology'
  | 'needs_token'
  | 'unavailable'
  | 'refused'

export interface Enrolment {
  /** Resolves once enrolled; rejects only when stopped before. */
  readonly enrolled: Promise<void>
  isEnrolled(): boolean
  stop(): Promise<void>
}

export class EnrolmentStoppedError extends KrbfleetError {
  constructor() {
    super(ErrorCode.Unavailable, 'enrolment stopped before the agent was enrolled', { retryable: false })
    this.name = 'EnrolmentStoppedError'
  }
}

/**
 * One `agent.enrol` call on the server's own subject (`subjects.agentEnrol`); true when the
 * topology changed (a new or replaced key).
 */
export async function enrolOnce(
  bus: Bus,
  input: { server: string; encryptionKey: string; token?: string; timeoutMs?: number },
): Promise<boolean> {
  const result = await callRpc<ChangeResult>(
    bus,
    'topology',
    TopologyOperation.AgentEnrol,
    { encryptionKey: input.encryptionKey, ...(input.token ? { token: input.token } : {}) },
    { actor: agentActor(input.server), server: input.server, timeoutMs: input.timeoutMs ?? 10_000 },
  )
  return result.changes.length > 0
}

/** The token in the file, or none when there is no file (an enrolled agent needs none). */
async function readToken(file: string | undefined): Promise<string | undefined> {
  if (!file) return undefined
  try {
    const token = (await readFile(file, 'utf8')).trim()
    return token.length > 0 ? token : undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function classify(err: unknown): EnrolOutcome {
  if (err instanceof KrbfleetError && err.code === ErrorCode.NotFound) return 'not_in_topology'
  if (err instanceof KrbfleetError && err.field === 'token') return 'needs_token'
  if (err instanceof KrbfleetError && err.retryable) return 'unavailable'
  return 'refused'
}

/** Starts enrolling in the background (start-up does not wait: /healthz answers meanwhile). */
export function startEnrolment(options: EnrolmentOptions): Enrolment {
  const logger = options.logger.child({ component: 'enrolment', server: options.server })
  const policy = options.backoff ?? { initialMs: 1000, maxMs: 60_000 }
  const abort = new AbortController()
  let enrolled = false
  let requesting = false

  const run = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      if (abort.signal.aborted) throw new EnrolmentStoppedError()
      try {
        const token = await readToken(options.tokenFile)
        requesting = true
        const changed = await enrolOnce(options.bus, {
          server: options.server,
          encryptionKey: options.encryptionKey,
          ...(token ? { token } : {}),
          ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
        })
        enrolled = true
        // Used up (or not needed): a token is single use, so none stays on disk.
        if (token && options.tokenFile) await rm(options.tokenFile, { force: true })
        options.onAttempt?.(changed ? 'enrolled' : 'unchanged')
        logger.info(
          { changed, attempts: attempt },
          changed
            ? 'enrolled: the topology now seals credentials for this server to its key'
            : 'enrolled: the topology already had this key',
        )
        return
      } catch (err) {
        if (abort.signal.aborted) throw new EnrolmentStoppedError()
        const outcome = classify(err)
        options.onAttempt?.(outcome)
        const delayMs = backoffDelay(policy, attempt)
        const message = err instanceof Error ? err.message : String(err)
        if (outcome === 'not_in_topology') {
          logger.warn(
            { attempt, retryInMs: delayMs, reason: message },
            `server ${options.server} is not in the topology; add it (krbfleet server new ${options.server} --pool <pool>); retrying`,
          )
        } else if (outcome === 'needs_token') {
          logger.warn(
            { attempt, retryInMs: delayMs, tokenFile: options.tokenFile, reason: message },
            `enrolment needs a token: run \`krbfleet agent token ${options.server}\` and write it to ${options.tokenFile ?? 'the KRBFLEET_AGENT_ENROL_TOKEN_FILE'} (mode 0600); retrying`,
          )
        } else if (outcome === 'unavailable') {
          logger.warn(
            { attempt, retryInMs: delayMs, reason: message },
            'topology service unavailable; retrying',
          )
        } else {
          // A refusal that is not "unknown server" (a rule broken): logged as an error, still retried
          // slowly, since an operator can fix the topology without restarting the agent.
          logger.error({ attempt, retryInMs: delayMs, err }, `enrolment refused: ${message}; retrying`)
        }
        await sleep(delayMs, abort.signal)
      } finally {
        requesting = false
      }
    }
  }

  const enrolledPromise = run()
  // Observed here so that a stop before enrolment is no unhandled rejection.
  const done = enrolledPromise.catch(() => {})
  return {
    enrolled: enrolledPromise,
    isEnrolled: () => enrolled,
    async stop() {
      abort.abort()
      // A request in flight is not waited for (it may take its whole timeout): draining the
      // connection, the next shutdown phase, ends it.
      if (!requesting) await done
    },
  }
}
