import type { FastifyRateLimitStore } from '@fastify/rate-limit'

interface Window {
  count: number
  startedAt: number
}

/**
 * The request counts behind the rate limit: a fixed window per caller, opened by its first request.
 *
 * Instead of @fastify/rate-limit's LocalStore, because (11.2.0) that one hands out its live
 * counter: requests in flight together all read the count of the last one, so a burst that
 * crosses the limit is refused whole, also the requests within it. Here each request gets its own
 * count. Tokens (`token:<name>`, as many as are configured) are kept apart from client addresses,
 * which are bounded (RateWindowStore.addressCapacity, oldest window dropped first), so that many addresses cannot
 * push a token's window out and reset its count.
 */
export class RateWindowStore implements FastifyRateLimitStore {
  readonly #tokens = new Map<string, Window>()
  readonly #addresses = new Map<string, Window>()
  /** Client addresses with an open window kept at most (the oldest window goes first). */
  static readonly addressCapacity = 10_000

  incr(
    key: string,
    callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
    timeWindow: number,
  ): void {
    const windows = key.startsWith('token:') ? this.#tokens : this.#addresses
    const now = Date.now()
    let window = windows.get(key)
    if (!window || window.startedAt + timeWindow <= now) {
      window = { count: 0, startedAt: now }
      // Re-inserted, so that the map's order is the order windows opened in: the oldest go first.
      windows.delete(key)
      windows.set(key, window)
      if (windows === this.#addresses && windows.size > RateWindowStore.addressCapacity) {
        const oldest = windows.keys().next().value
        if (oldest !== undefined) windows.delete(oldest)
      }
    }
    window.count++
    callback(null, { current: window.count, ttl: window.startedAt + timeWindow - now })
  }

  child(): FastifyRateLimitStore {
    return new RateWindowStore()
  }
}
