/**
 * The server-sent events format (HTML Living Standard, "Interpreting an event stream"), parsed from
 * text chunks as they arrive: the dashboard reads /v1/events/stream with fetch, because an
 * EventSource cannot send the bearer token. Pure.
 */

export interface ServerSentEvent {
  /** The last `id` seen (a reconnect sends it as Last-Event-ID). */
  id: string
  event: string
  data: string
}

export class SseParser {
  #buffer = ''
  #id = ''
  #event = ''
  #data: string[] = []
  /** The last chunk ended on a CR: a LF starting the next one belongs to that line break. */
  #afterCr = false
  /** The `retry` the server asked for (ms), if any. */
  retryMs: number | undefined

  /** The events completed by `chunk`. */
  push(chunk: string): ServerSentEvent[] {
    this.#buffer += this.#afterCr && chunk.startsWith('\n') ? chunk.slice(1) : chunk
    this.#afterCr = false
    const out: ServerSentEvent[] = []
    for (;;) {
      const end = this.#buffer.search(/\r\n|\r|\n/)
      if (end < 0) break
      const line = this.#buffer.slice(0, end)
      if (end === this.#buffer.length - 1 && this.#buffer[end] === '\r') this.#afterCr = true
      this.#buffer = this.#buffer.slice(end + (this.#buffer.startsWith('\r\n', end) ? 2 : 1))
      const dispatched = this.#line(line)
      if (dispatched) out.push(dispatched)
    }
    return out
  }

  #line(line: string): ServerSentEvent | undefined {
    if (line === '') {
      if (this.#data.length === 0) {
        this.#event = ''
        return undefined
      }
      const event = { id: this.#id, event: this.#event || 'message', data: this.#data.join('\n') }
      this.#event = ''
      this.#data = []
      return event
    }
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.#data.push(value)
    else if (field === 'event') this.#event = value
    else if (field === 'id' && !value.includes('\0')) this.#id = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value)
    return undefined
  }
}
