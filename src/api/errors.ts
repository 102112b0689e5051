/**
 * The one place errors become HTTP responses: HerdError codes map to a status and the
 * OpenAI envelope (Anthropic's error body on routes whose `config.errorShape` says so,
 * for `/v1/messages` clients); fastify's own errors (bad JSON, body too large, malformed URL) are
 * translated first. Thrown errors, unknown routes and fastify's framework errors (which
 * happen before routing, so no hook runs) all end in sendError.
 */
import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { HerdError, asHerdError, isHerdError, type ErrorShape } from '../errors/index.ts'
import { clip } from './clip.ts'
import type { Metrics } from './metrics.ts'
import type { Tenant } from '../tenants/index.ts'

export interface ErrorReplyDeps {
  nodeName: string
  metrics: Metrics
  /** A tenant key's `x-ratelimit-*` right now, for a routed request refused before its admission set them (auth.ts). */
  rateHeaders?: (tenant: Tenant) => Record<string, string>
}

declare module 'fastify' {
  interface FastifyRequest {
    /** `model:profile` the request resolved to, once known ('' before), for metric labels. */
    herdProfile: string
  }
  interface FastifyContextConfig {
    /** The error body this route's clients parse (default openai). */
    errorShape?: ErrorShape
  }
}

/** The error shape of the route a request matched (OpenAI's when it matched none). */
export function errorShapeOf(request: FastifyRequest): ErrorShape {
  return request.is404 ? 'openai' : (request.routeOptions.config?.errorShape ?? 'openai')
}

/** Turn anything thrown into a HerdError a client can read. */
export function toHerdError(err: unknown): HerdError {
  if (isHerdError(err)) return err
  const fe = err as Partial<FastifyError> | null
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HerdError('body_too_large', 'request body is larger than http.body_limit_bytes')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HerdError('invalid_json', 'request body is not valid JSON')
    case 'FST_ERR_BAD_URL':
      return new HerdError('invalid_request', 'the URL path is not valid percent-encoding')
    default:
      break
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new HerdError('invalid_request', clip(fe.message ?? 'bad request'))
  }
  return asHerdError(err)
}

/**
 * Log and count one error a client gets: as an answer (sendError), or as the last event of
 * a stream whose head already went (the loading comments of routes/openai.ts).
 */
export function recordError(request: FastifyRequest, err: unknown, deps: ErrorReplyDeps): HerdError {
  const herdError = toHerdError(err)
  logError(request, herdError, err)
  deps.metrics.errors.inc({ code: herdError.code })
  deps.metrics.traffic.error(herdError.code, request.routeOptions.config?.endpoint !== undefined)
  // Successes are counted when their body ends (routes/openai.ts); every refusal is counted here, once.
  deps.metrics.requests.inc({ endpoint: request.routeOptions.config?.endpoint ?? 'other', model: request.herdProfile ?? '', status: 'error' })
  return herdError
}

/** Log, count and answer one error. Every non-2xx herd sends is written here. */
export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown, deps: ErrorReplyDeps): void {
  const herdError = recordError(request, err, deps)
  // Set again here: framework errors happen before the onRequest hook that sets them.
  reply.header('x-request-id', request.id)
  reply.header('x-herd-node', deps.nodeName)
  reply.header('x-herd-error', herdError.code)
  const retryAfter = herdError.retryAfter
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter))
  if (herdError.code === 'unauthorized') reply.header('www-authenticate', 'Bearer')
  if (request.rateHeadersDue && request.tenant !== null && deps.rateHeaders !== undefined) {
    request.rateHeadersDue = false
    reply.headers(deps.rateHeaders(request.tenant))
  }
  void reply
    .code(herdError.status)
    .type('application/json')
    .send(herdError.envelopeFor(errorShapeOf(request)))
}

/**
 * 500 is a bug: error level, with the stack. Other 5xx, and 429/402 (rate limited, quota,
 * budget), are expected refusals an operator wants to see: one warn line, no stack. Other
 * 4xx are the client's own mistakes: info.
 */
function logError(request: FastifyRequest, herdError: HerdError, thrown: unknown): void {
  if (herdError.status === 500) {
    request.log.error({ err: thrown, code: herdError.code }, herdError.message)
    return
  }
  const cause = herdError.cause instanceof Error ? clip(herdError.cause.message, 512) : undefined
  const fields = cause === undefined ? { code: herdError.code } : { code: herdError.code, cause }
  if (herdError.status >= 500 || herdError.status === 429 || herdError.status === 402) request.log.warn(fields, herdError.message)
  else request.log.info(fields, herdError.message)
}

/**
 * Node's HTTP parser refusing a request (malformed request line or headers, headers over
 * the size limit) happens before fastify has a request or a reply: answer on the socket,
 * still in the envelope with herd's headers, then close it.
 */
export function clientErrorHandler(deps: ErrorReplyDeps): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const reason =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 'the request headers are too large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'the request took too long to arrive'
          : 'the request is not valid HTTP'
    const herdError = new HerdError('invalid_request', reason)
    deps.metrics.errors.inc({ code: herdError.code })
    deps.metrics.requests.inc({ endpoint: 'other', model: '', status: 'error' })
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const body = JSON.stringify(herdError.toEnvelope())
    // Written by hand, so the node name is kept to what a header value may hold.
    const node = deps.nodeName.replace(/[^\x20-\x7e]/g, '?')
    const head = [
      `HTTP/1.1 ${herdError.status} Bad Request`,
      'content-type: application/json',
      `content-length: ${Buffer.byteLength(body)}`,
      `x-herd-error: ${herdError.code}`,
      `x-request-id: ${randomUUID()}`,
      `x-herd-node: ${node}`,
      'connection: close',
    ]
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`)
  }
}

export function installErrorHandling(app: FastifyInstance, deps: ErrorReplyDeps): void {
  app.decorateRequest('herdProfile', '')
  app.setErrorHandler((err: unknown, request, reply) => sendError(request, reply, err, deps))
  app.setNotFoundHandler((request) => {
    throw new HerdError('not_found', `no route for ${request.method} ${clip(request.url.split('?')[0] ?? '')}`)
  })
}
