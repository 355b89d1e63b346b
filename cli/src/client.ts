/** The console's REST API over HTTP(S). Every failure is an {@link ApiError} with the console's error body. */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

export interface ApiClientOptions {
  /** Console address (`http://127.0.0.1:8080`). */
  url: string
  token?: string | undefined
  timeoutMs?: number
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly field: string | undefined
  readonly details: Record<string, unknown> | undefined
  /** A 429's `Retry-After` in seconds: how long the console asks the caller to wait. */
  readonly retryAfterSeconds: number | undefined

  constructor(
    status: number,
    code: string,
    message: string,
    field?: string,
    details?: Record<string, unknown>,
    retryAfterSeconds?: number,
  ) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.field = field
    this.details = details
    this.retryAfterSeconds = retryAfterSeconds
  }

  toJSON() {
    return {
      status: this.status,
      code: this.code,
      message: this.message,
      ...(this.field !== undefined ? { field: this.field } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
      ...(this.retryAfterSeconds !== undefined ? { retryAfterSeconds: this.retryAfterSeconds } : {}),
    }
  }
}

export type Query = Record<string, string | number | boolean | undefined>

export class ApiClient {
  readonly #base: URL
  readonly #token: string | undefined
  readonly #timeoutMs: number

  constructor(options: ApiClientOptions) {
    try {
      this.#base = new URL(options.url)
    } catch {
      throw new ApiError(0, 'invalid', `KRBFLEET_URL '${options.url}' is not a URL`)
    }
    this.#token = options.token
    this.#timeoutMs = options.timeoutMs ?? 30_000
  }

  get<T = unknown>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query })
  }
  post<T = unknown>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, { body, query })
  }
  put<T = unknown>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('PUT', path, { body, query })
  }
  patch<T = unknown>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('PATCH', path, { body, query })
  }
  delete<T = unknown>(path: string, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, { query })
  }

  async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query | undefined } = {},
  ): Promise<T> {
    const url = new URL(
      path.replace(/^\//, ''),
      this.#base.href.endsWith('/') ? this.#base : `${this.#base.href}/`,
    )
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v))
    }
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.#token) headers.authorization = `Bearer ${this.#token}`
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    let response: { status: number; retryAfter: string | null; text: string }
    try {
      response = await send(url, method, headers, options.body, this.#timeoutMs)
    } catch (err) {
      const cause = (err as { code?: string }).code ?? (err as Error).message
      throw new ApiError(0, 'unavailable', `cannot reach the console at ${this.#base.origin} (${cause})`)
    }
    const { text } = response
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = undefined
    }
    if (response.status < 200 || response.status > 299) {
      const e = (
        body as {
          error?: { code?: string; message?: string; field?: string; details?: Record<string, unknown> }
        }
      )?.error
      throw new ApiError(
        response.status,
        e?.code ?? `http_${response.status}`,
        e?.message ?? `${method} ${url.pathname} answered ${response.status}`,
        e?.field,
        e?.details,
        retryAfter(response.retryAfter),
      )
    }
    return body as T
  }
}

/**
 * One HTTP(S) request with node:http, not fetch: fetch loads its whole HTTP stack on first use,
 * about 40 ms of every CLI call (bench/README.md). Times out after `timeoutMs` with code `timeout`.
 */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: unknown,
  timeoutMs: number,
): Promise<{ status: number; retryAfter: string | null; text: string }> {
  // Required, not imported: node:http's ES module facade reads every export, and its lazy
  // WebSocket and EventSource getters would load fetch's HTTP stack after all.
  const { request } = require(
    url.protocol === 'https:' ? 'node:https' : 'node:http',
  ) as typeof import('node:http')
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers:
          payload === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(payload) },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          const header = res.headers['retry-after']
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: typeof header === 'string' ? header : null,
            text: Buffer.concat(chunks).toString('utf8'),
          })
        })
      },
    )
    req.on('error', (err: Error & { code?: string }) =>
      reject(
        err.name === 'AbortError' || err.name === 'TimeoutError'
          ? Object.assign(err, { code: 'timeout' })
          : err,
      ),
    )
    req.end(payload)
  })
}

/** `Retry-After` as seconds (RFC 9110 section 10.2.3: delay-seconds or an HTTP date). */
function retryAfter(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined
  if (/^\d+$/.test(header.trim())) return Number(header.trim())
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}
