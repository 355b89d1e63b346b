/**
 * At most `size` tasks at once: `run` waits for a free place and starts the task, `drain` waits for
 * all started ones to end. For round trips to NATS (bucket writes, publishes awaiting their ack)
 * that a fleet must not make one at a time: started in order on one connection, they also reach
 * the server in order. A task that fails makes the next `run` or `drain` fail with its error: a
 * task that must not stop the others handles its own.
 *
 * A place that frees wakes the first waiter (a queue, not a race over every running task: with
 * hundreds in flight a race per task costs quadratic time).
 */
export class InFlight {
  readonly #size: number
  #running = 0
  readonly #waiting: Array<() => void> = []
  #idle: { promise: Promise<void>; resolve: () => void } | undefined
  #failure: { error: unknown } | undefined

  constructor(size: number) {
    this.#size = Math.max(1, size)
  }

  async run(task: () => Promise<void>): Promise<void> {
    this.#throwFailure()
    if (this.#running < this.#size && this.#waiting.length === 0) this.#running++
    // Woken by a task's end, which hands its place over (so no newcomer takes it meanwhile).
    else await new Promise<void>((resolve) => this.#waiting.push(resolve))
    if (this.#failure) {
      this.#release()
      this.#throwFailure()
    }
    void task().then(
      () => this.#release(),
      (error: unknown) => {
        this.#failure ??= { error }
        this.#release()
      },
    )
  }

  async drain(): Promise<void> {
    if (this.#running > 0) {
      this.#idle ??= Promise.withResolvers<void>()
      await this.#idle.promise
    }
    this.#throwFailure()
  }

  #release(): void {
    const next = this.#waiting.shift()
    if (next) {
      next()
      return
    }
    this.#running--
    if (this.#running === 0 && this.#idle) {
      this.#idle.resolve()
      this.#idle = undefined
    }
  }

  /** A failure is reported once, to the next caller. */
  #throwFailure(): void {
    const failure = this.#failure
    if (!failure) return
    this.#failure = undefined
    throw failure.error
  }
}
