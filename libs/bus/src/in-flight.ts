/**
 * At most `size` tasks at once: `run` waits for a free place and starts the task, `drain` waits for
 * all started ones to end. For round trips to NATS (bucket writes, publishes awaiting their ack)
 * that a fleet must not make one at a time: started in order on one connection, they also reach
 * the server in order. A task that fails makes the next `run` or `drain` fail with its error: a
 * task that must not stop the others handles its own.
 */
export class InFlight {
  readonly #size: number
  readonly #running = new Set<Promise<void>>()

  constructor(size: number) {
    this.#size = Math.max(1, size)
  }

  async run(task: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.#size) await Promise.race(this.#running)
    const running: Promise<void> = task().finally(() => this.#running.delete(running))
    this.#running.add(running)
  }

  async drain(): Promise<void> {
    await Promise.all(this.#running)
  }
}
