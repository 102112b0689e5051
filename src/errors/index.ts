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
  budget_exceeded: { status: 402, type: 'insufficient_quota' },
  origin_not_allowed: { status: 403, type: 'permission_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  key_not_found: { status: 404, type: 'invalid_request_error' },
  backend_conflict: { status: 409, type: 'invalid_request_error' },
  body_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  rate_limited: { status: 429, type: 'rate_limit_error' },
  quota_exceeded: { status: 429, type: 'insufficient_quota' },
  upstream_rate_limited: { status: 429, type: 'rate_limit_error' },
  upstream_error: { status: 502, type: 'server_error' },
  queue_full: { status: 503, type: 'server_error' },
  queue_timeout: { status: 503, type: 'server_error' },
  draining: { status: 503, type: 'server_error' },
  spawn_failed: { status: 503, type: 'server_error' },
  // Not transient: no Retry-After, so SDKs do not retry it for ever.
  model_file_missing: { status: 503, type: 'server_error', transient: false },
  no_capacity: { status: 503, type: 'server_error' },
  no_route: { status: 503, type: 'server_error' },
  peer_unavailable: { status: 503, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
  config_invalid: { status: 500, type: 'server_error' },
  internal: { status: 500, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: string; transient?: false }>

export type ErrorCode = keyof typeof ERROR_CODES

export interface HerdErrorOptions {
  cause?: unknown
  /** The request field at fault (OpenAI envelope `param`). */
  param?: string
  /** Seconds a client should wait before retrying (sent as `Retry-After`; 503s without it get 1). */
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

  /**
   * The `Retry-After` seconds to send: the ones given, else 1 for a 503 that may pass
   * (queue full, draining…), else none (a 503 that waiting will not fix, a 4xx).
   */
  get retryAfter(): number | undefined {
    if (this.retryAfterSeconds !== undefined) return this.retryAfterSeconds
    const spec: { status: number; transient?: false } = ERROR_CODES[this.code]
    return spec.status === 503 && spec.transient !== false ? 1 : undefined
  }

  /** The OpenAI error envelope for this error. */
  toEnvelope(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param ?? null, code: this.code } }
  }

  /** Anthropic's error body for this error (what `/v1/messages` clients parse). */
  toAnthropicEnvelope(): AnthropicErrorEnvelope {
    return { type: 'error', error: { type: anthropicErrorType(this), message: this.message } }
  }

  /** The body a client of the given API reads. */
  envelopeFor(shape: ErrorShape): ErrorEnvelope | AnthropicErrorEnvelope {
    return shape === 'anthropic' ? this.toAnthropicEnvelope() : this.toEnvelope()
  }
}

export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string }
}

/** Which error body a route's clients parse: OpenAI's envelope, or Anthropic's on `/v1/messages*`. */
export type ErrorShape = 'openai' | 'anthropic'

export interface AnthropicErrorEnvelope {
  type: 'error'
  error: { type: string; message: string }
}

/** Refusals that say "busy right now, try again": Anthropic clients know them as overloaded_error. */
const OVERLOADED: ReadonlySet<string> = new Set(['queue_full', 'queue_timeout', 'draining', 'no_capacity', 'no_route'])

/**
 * Anthropic's error type for a herd error, chosen by status so a code added later lands
 * somewhere sensible; the status itself stays herd's (503 stays 503, not Anthropic's 529).
 */
export function anthropicErrorType(err: HerdError): string {
  const status = err.status
  if (status === 401) return 'authentication_error'
  if (status === 402) return 'billing_error'
  if (status === 403) return 'permission_error'
  if (status === 404) return 'not_found_error'
  if (status === 413) return 'request_too_large'
  if (status === 429) return 'rate_limit_error'
  if (status < 500) return 'invalid_request_error'
  return OVERLOADED.has(err.code) ? 'overloaded_error' : 'api_error'
}

/** The last SSE event of a stream that failed after its head, in the shape its clients parse. */
export function sseErrorEvent(err: unknown, shape: ErrorShape = 'openai'): string {
  const herdError = asHerdError(err)
  // Anthropic streams name their events; its SDKs read `event: error` as the failure.
  if (shape === 'anthropic') return `event: error\ndata: ${JSON.stringify(herdError.toAnthropicEnvelope())}\n\n`
  return `data: ${JSON.stringify(herdError.toEnvelope())}\n\n`
}

export function isHerdError(err: unknown): err is HerdError {
  return err instanceof HerdError
}

/** Whether a retry on another candidate may help (the failure was about that candidate, not the request). */
export function isRetryable(err: unknown): boolean {
  if (!isHerdError(err)) return true
  return [
    'upstream_error',
    'upstream_rate_limited',
    'queue_full',
    'queue_timeout',
    'draining',
    'spawn_failed',
    'model_file_missing',
    'no_capacity',
    'peer_unavailable',
    'upstream_timeout',
  ].includes(err.code)
}

/** Anything thrown, as a HerdError a client can read (an unknown failure is `internal`). */
export function asHerdError(err: unknown): HerdError {
  return isHerdError(err) ? err : new HerdError('internal', 'internal error', { cause: err })
}
