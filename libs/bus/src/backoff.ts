/**
 * Exponential backoff with "full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * the delay of attempt n is a random value in [cap/2, cap] where cap = min(maxMs, initialMs * 2^(n-1)).
 * Keeping half of the cap avoids hammering a recovering server with near-zero delays.
 */
export interface BackoffPolicy {
  /** Delay before the first retry, in milliseconds. */
  initialMs: number
  /** Upper bound of any delay, in milliseconds. */
  maxMs: number
}

/** `attempt` counts from 1 (the first retry). `random` is injectable for tests. */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30))
  const cap = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent)
  return Math.round(cap / 2 + (random() * cap) / 2)
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}
