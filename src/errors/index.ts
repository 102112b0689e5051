/**
 * One error base class for the whole daemon. Every failure a client can see carries a
 * stable `code`; the api's single error handler maps it to an HTTP status and the OpenAI
 * error envelope. Components throw these; nobody hand-builds error bodies.
 */

/** Stable error codes, documented in SPEC.md ("Errors"). */
export const ERROR_CODES = {
  invalid_request: { status: 400, type: 'invalid_request_error' },
  invalid_json: { status: 400, type: 'invalid_request_error' },
  unsupported_endpoint: { status: 400, type: 'invalid_request_error' },
  max_hops: { status: 400, type: 'invalid_request_error' },
  unauthorized: { status: 401, type: 'authentication_error' },
  origin_not_allowed: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  body_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  upstream_error: { status: 502, type: 'server_error' },
  queue_full: { status: 503, type: 'server_error' },
  queue_timeout: { status: 503, type: 'server_error' },
  draining: { status: 503, type: 'server_error' },
  spawn_failed: { status: 503, type: 'server_error' },
  model_file_missing: { status: 503, type: 'server_error' },
  no_capacity: { status: 503, type: 'server_error' },
  no_route: { status: 503, type: 'server_error' },
  peer_unavailable: { status: 503, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
  config_invalid: { status: 500, type: 'server_error' },
  internal: { status: 500, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: string }>

export type ErrorCode = keyof typeof ERROR_CODES

export interface HerdErrorOptions {
  cause?: unknown
  /** The request field at fault (OpenAI envelope `param`). */
  param?: string
  /** Seconds a client should wait before retrying (sent as `Retry-After` on 503). */
  retryAfterSeconds?: number
}

export class HerdError extends Error {
  readonly code: ErrorCode
  readonly param: string | undefined
  readonly retryAfterSeconds: number | undefined

  constructor(code: ErrorCode, message: string, options: HerdErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.name = 'HerdError'
    this.code = code
    this.param = options.param
    this.retryAfterSeconds = options.retryAfterSeconds
  }

  get status(): number {
    return ERROR_CODES[this.code].status
  }

  get type(): string {
    return ERROR_CODES[this.code].type
  }

  /** The OpenAI error envelope for this error. */
  toEnvelope(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param ?? null, code: this.code } }
  }
}

export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string }
}

export function isHerdError(err: unknown): err is HerdError {
  return err instanceof HerdError
}

/** Whether a retry on another candidate may help (the failure was about that candidate, not the request). */
export function isRetryable(err: unknown): boolean {
  if (!isHerdError(err)) return true
  return ['upstream_error', 'queue_full', 'queue_timeout', 'draining', 'spawn_failed', 'no_capacity', 'peer_unavailable', 'upstream_timeout'].includes(err.code)
}

/** Anything thrown, as a HerdError a client can read (an unknown failure is `internal`). */
export function asHerdError(err: unknown): HerdError {
  return isHerdError(err) ? err : new HerdError('internal', 'internal error', { cause: err })
}
