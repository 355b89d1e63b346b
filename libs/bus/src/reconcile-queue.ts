import { ErrorCode, KrbfleetError, type KrbfleetErrorOptions, TerminalError } from '@krbfleet/contracts'
import type { Logger } from 'pino'
import { type BackoffPolicy, backoffDelay } from './backoff.ts'

/**
 * Thrown by `reconcile(key)` when the key cannot be worked on now although nothing failed (another
 * replica holds it): the key runs again after the backoff delay, and it is logged at debug, not as
 * a failure.
 */
export class ReconcileDeferred extends KrbfleetError {
  constructor(message: string, options: Omit<KrbfleetErrorOptions, 'retryable'> = {}) {
    super(ErrorCode.Conflict, message, { ...options, retryable: true })
    this.name = 'ReconcileDeferred'
  }
}

export interface ReconcileQueueOptions {
  /** Names the queue in logs (`spn-sync accounts`). */
  name: string
  /** Brings the world for `key` to its desired state; idempotent. Throw to retry, TerminalError to give up. */
  reconcile(key: string): Promise<void>
  /** Every key that exists now; the periodic resync enqueues them all. */
  listKeys(): Promise<string[]> | string[]
  /** Interval of the periodic resync (ms); 0 turns it off. */
  resyncIntervalMs: number
  logger: Logger
  /** Keys reconciled at the same time (different keys only; one key is never run twice at once). Default 1. */
  concurrency?: number
  /** Retry waits of a failing key (default 200 ms doubling up to 5 minutes). */
  backoff?: BackoffPolicy
}

export interface ReconcileQueueStats {
  queued: number
  running: number
  retrying: number
}

/**
 * A keyed, level-triggered work queue in memory, after controller-runtime's workqueue (STYLE rule 4):
 * - a key enqueued while it waits collapses into one run;
 * - a key enqueued while it runs runs once more afterwards (the change may have come too late);
 * - a failure retries with exponential backoff; a TerminalError (or a non-retryable KrbfleetError)
 *   stops retrying that key until it is enqueued again;
 * - the periodic resync enqueues every key of listKeys(), catching whatever events missed.
 */
export class ReconcileQueue {
  readonly name: string
  readonly #options: ReconcileQueueOptions
  readonly #logger: Logger
  readonly #backoff: BackoffPolicy
  readonly #concurrency: number
  /** Keys waiting to run, in order (a Set: enqueuing a waiting key again collapses). */
  readonly #queued = new Set<string>()
  readonly #running = new Map<string, Promise<void>>()
  /** Keys enqueued while running: they run once more when the current run ends. */
  readonly #dirty = new Set<string>()
  readonly #retryTimers = new Map<string, NodeJS.Timeout>()
  readonly #failures = new Map<string, number>()
  #idleWaiters: Array<() => void> = []
  #resyncTimer: NodeJS.Timeout | undefined
  #resyncing: Promise<void> | undefined
  #started = false
  #stopped = false

  constructor(options: ReconcileQueueOptions) {
    this.name = options.name
    this.#options = options
    this.#logger = options.logger.child({ component: 'reconcile-queue', queue: options.name })
    this.#backoff = options.backoff ?? { initialMs: 200, maxMs: 300_000 }
    this.#concurrency = Math.max(1, options.concurrency ?? 1)
  }

  /** Asks for `key` to be reconciled. Cheap and idempotent: call it from every event. */
  enqueue(key: string): void {
    if (this.#stopped) return
    // A fresh request overrides a scheduled retry: run now (the failure count keeps growing if it fails again).
    const timer = this.#retryTimers.get(key)
    if (timer) {
      clearTimeout(timer)
      this.#retryTimers.delete(key)
    }
    if (this.#running.has(key)) {
      this.#dirty.add(key)
      return
    }
    this.#queued.add(key)
    this.#pump()
  }

  /** Starts processing and the periodic resync (a first resync runs at once). */
  start(): void {
    if (this.#started || this.#stopped) return
    this.#started = true
    this.#logger.debug({ resyncIntervalMs: this.#options.resyncIntervalMs }, 'reconcile queue started')
    void this.resync()
    if (this.#options.resyncIntervalMs > 0) {
      this.#resyncTimer = setInterval(() => void this.resync(), this.#options.resyncIntervalMs)
      this.#resyncTimer.unref?.()
    }
    this.#pump()
  }

  /** Enqueues every key of listKeys() now (also run periodically). */
  resync(): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    // One listing at a time; a slow listKeys() does not pile up.
    if (this.#resyncing) return this.#resyncing
    const current: { promise?: Promise<void> } = {}
    const listing: Promise<void> = (async (): Promise<void> => {
      // Yield first: a listKeys() that throws synchronously must not settle before #resyncing is set.
      await undefined
      try {
        const keys = await this.#options.listKeys()
        this.#logger.debug({ keys: keys.length }, 'resync')
        for (const key of keys) this.enqueue(key)
      } catch (err) {
        this.#logger.warn({ err }, 'resync could not list keys; trying again at the next interval')
      } finally {
        if (this.#resyncing === current.promise) this.#resyncing = undefined
        this.#checkIdle()
      }
    })()
    current.promise = listing
    this.#resyncing = listing
    return this.#resyncing
  }

  /** Stops taking work, cancels retries and waits for the reconciles in progress to finish. */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#resyncTimer) clearInterval(this.#resyncTimer)
    for (const timer of this.#retryTimers.values()) clearTimeout(timer)
    this.#retryTimers.clear()
    this.#queued.clear()
    this.#dirty.clear()
    await this.#resyncing
    await Promise.all([...this.#running.values()])
    this.#checkIdle()
    this.#logger.debug('reconcile queue stopped')
  }

  /** Resolves when nothing is queued, running or waiting to retry (for tests and graceful hand-offs). */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  stats(): ReconcileQueueStats {
    return { queued: this.#queued.size, running: this.#running.size, retrying: this.#retryTimers.size }
  }

  #isIdle(): boolean {
    return (
      this.#queued.size === 0 &&
      this.#running.size === 0 &&
      this.#retryTimers.size === 0 &&
      this.#resyncing === undefined
    )
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return
    const waiters = this.#idleWaiters
    this.#idleWaiters = []
    for (const resolve of waiters) resolve()
  }

  #pump(): void {
    if (!this.#started || this.#stopped) return
    while (this.#running.size < this.#concurrency) {
      const key = this.#nextRunnable()
      if (key === undefined) break
      this.#queued.delete(key)
      const run = this.#run(key).finally(() => {
        this.#running.delete(key)
        if (this.#dirty.delete(key) && !this.#stopped && !this.#retryTimers.has(key)) this.#queued.add(key)
        this.#pump()
        this.#checkIdle()
      })
      this.#running.set(key, run)
    }
  }

  #nextRunnable(): string | undefined {
    for (const key of this.#queued) if (!this.#running.has(key)) return key
    return undefined
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#options.reconcile(key)
      this.#failures.delete(key)
    } catch (err) {
      const permanent = err instanceof TerminalError || (err instanceof KrbfleetError && !err.retryable)
      if (permanent) {
        this.#failures.delete(key)
        this.#logger.error(
          { err, key },
          'reconcile failed permanently; not retrying until the key is enqueued again',
        )
        return
      }
      const failures = (this.#failures.get(key) ?? 0) + 1
      this.#failures.set(key, failures)
      if (this.#stopped) return
      if (this.#dirty.has(key)) {
        // A newer request arrived during the run: it runs right away instead of after the backoff.
        this.#logger.warn({ err, key, failures }, 'reconcile failed; running again for a newer request')
        return
      }
      const delayMs = backoffDelay(this.#backoff, failures)
      if (err instanceof ReconcileDeferred) {
        this.#logger.debug({ key, reason: err.message, retryInMs: delayMs }, 'reconcile deferred')
      } else {
        this.#logger.warn({ err, key, failures, retryInMs: delayMs }, 'reconcile failed; will retry')
      }
      const timer = setTimeout(() => {
        this.#retryTimers.delete(key)
        if (this.#stopped) return
        this.#queued.add(key)
        this.#pump()
        this.#checkIdle()
      }, delayMs)
      this.#retryTimers.set(key, timer)
    }
  }
}
