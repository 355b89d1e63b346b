import { AccountBusyError } from './errors.ts'

/**
 * Runs of one account in this process, one at a time. The KV lease keeps replicas apart, but it
 * knows a replica only by its holder id, so two runs in one process would both take it as theirs:
 * the runs of an account take turns here, while different accounts run side by side.
 */
export class AccountTurns {
  /** The last run of each account that has one queued or running (settled, never rejected). */
  readonly #last = new Map<string, Promise<void>>()

  /** Runs `work` once this process's earlier runs of `account` have finished. */
  inTurn<T>(account: string, work: () => Promise<T>): Promise<T> {
    const run = (this.#last.get(account) ?? Promise.resolve()).then(work)
    const settled = run.then(
      () => {},
      () => {},
    )
    this.#last.set(account, settled)
    void settled.then(() => {
      if (this.#last.get(account) === settled) this.#last.delete(account)
    })
    return run
  }

  /** Runs `work` now, or throws AccountBusyError when this process is at work on `account` already. */
  now<T>(account: string, work: () => Promise<T>): Promise<T> {
    if (this.#last.has(account)) return Promise.reject(new AccountBusyError(account, null, null))
    return this.inTurn(account, work)
  }
}
