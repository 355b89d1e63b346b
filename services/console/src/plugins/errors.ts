import { asKrbfleetError, ErrorCode, KrbfleetError } from '@krbfleet/contracts'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { appWide } from './app-wide.ts'
import type { RequestCounter } from './metrics.ts'

/** A failed request as its caller sees it: the HTTP status and the error it answers with. */
export interface Refusal {
  status: number
  error: KrbfleetError
}

/**
 * Maps a request's error to its answer: a KrbfleetError by its code (a ValidationError is a 400
 * naming the field), fastify's own refusals (malformed JSON 400, body too large 413, wrong media
 * type 415) with their status, anything else as an internal error (500).
 */
export function refusalOf(err: Error & { statusCode?: number }): Refusal {
  if (err instanceof KrbfleetError) return { status: err.httpStatus, error: err }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, error: new KrbfleetError(ErrorCode.Invalid, err.message) }
  }
  const error = asKrbfleetError(err)
  return { status: error.httpStatus, error }
}

export interface ErrorBody {
  code: string
  message: string
  field?: string
  details?: Record<string, unknown>
}

/** The `error` of an answer. An internal error's text (a DN, a path, a secret fragment) stays out. */
export function errorBody(error: KrbfleetError): ErrorBody {
  const internal = error.code === ErrorCode.Internal
  const body: ErrorBody = { code: error.code, message: internal ? 'internal error' : error.message }
  if (error.field !== undefined) body.field = error.field
  if (error.details !== undefined && !internal) body.details = error.details
  return body
}

/**
 * fastify's `frameworkErrors` option: errors found before routing (a path that is not valid UTF-8
 * once decoded, `/v1/%C0%AF`; an overlong path parameter) answer in the console's format too, and
 * as a 4xx. fastify logs such a request as incoming but skips its response hooks, so the
 * completion line and the request counter are done here: every logged request ends with one.
 */
export function answerFrameworkError(count: RequestCounter) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
    const status = typeof err.statusCode === 'number' && err.statusCode < 500 ? err.statusCode : 400
    const started = performance.now()
    let answered = false
    const ended = (completed: boolean) => () => {
      if (answered) return
      answered = true
      count(req, reply)
      const fields = { res: { statusCode: reply.statusCode }, responseTime: performance.now() - started }
      if (completed) req.log.info(fields, 'request completed')
      else req.log.warn(fields, 'request aborted before its answer was sent')
    }
    reply.raw.once('finish', ended(true))
    reply.raw.once('close', ended(false))
    void reply.status(status).send({ error: { code: ErrorCode.Invalid, message: err.message } })
  }
}

/**
 * fastify's `clientErrorHandler`: a request the HTTP parser refuses (raw bytes that are not valid
 * in a request line, a header too large) never becomes a request, so it would leave no log line
 * at all; it is logged once and answered 400 (431 for oversized headers) in the console's format.
 */
export function answerClientError(
  this: FastifyInstance,
  err: Error & { code?: string },
  socket: Duplex,
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  this.log.info({ code: err.code, res: { statusCode: status } }, 'request refused by the HTTP parser')
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = JSON.stringify({
    error: { code: ErrorCode.Invalid, message: `malformed request (${err.code ?? 'parse error'})` },
  })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

/** Every error answers `{error: {code, message, field?, details?}}`; bad input is a 4xx, never a 500. */
export const errors = appWide('krbfleet-errors', async (app) => {
  app.setErrorHandler(async (err: FastifyError | KrbfleetError, req, reply) => {
    const { status, error } = refusalOf(err)
    // Its text is masked in the answer and the audit trail: the log is where it can be read.
    if (error.code === ErrorCode.Internal) req.log.error({ err }, 'request failed')
    reply.status(status)
    if (error.code === ErrorCode.Unauthorized) reply.header('www-authenticate', 'Bearer')
    return { error: errorBody(error) }
  })
  app.setNotFoundHandler(async (req, reply) => {
    reply.status(404)
    return { error: { code: ErrorCode.NotFound, message: `no route ${req.method} ${req.url.split('?')[0]}` } }
  })
})
