/**
 * The one place errors become HTTP responses: HerdError codes map to a status and the
 * OpenAI envelope; fastify's own errors (bad JSON, body too large) are translated first.
 */
import type { FastifyError, FastifyInstance } from 'fastify'
import { HerdError, asHerdError, isHerdError } from '../errors/index.ts'
import type { Metrics } from './metrics.ts'

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
    default:
      break
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new HerdError('invalid_request', fe.message ?? 'bad request')
  }
  return asHerdError(err)
}

export function installErrorHandling(app: FastifyInstance, metrics: Metrics): void {
  app.setErrorHandler((err: unknown, request, reply) => {
    const herdError = toHerdError(err)
    metrics.errors.inc({ code: herdError.code })
    if (herdError.status >= 500) request.log.error({ err, code: herdError.code }, herdError.message)
    else request.log.info({ code: herdError.code }, herdError.message)
    if (herdError.retryAfterSeconds !== undefined) reply.header('retry-after', String(herdError.retryAfterSeconds))
    else if (herdError.status === 503) reply.header('retry-after', '1')
    reply.header('x-herd-error', herdError.code)
    void reply.code(herdError.status).type('application/json').send(herdError.toEnvelope())
  })
  app.setNotFoundHandler((request) => {
    throw new HerdError('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`)
  })
}
