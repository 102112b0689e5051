/**
 * A backend's error answer (4xx relayed to the client) in the client's protocol, keeping
 * the backend's status and message. OpenAI clients read `{error: {message, type, param,
 * code}}`; Anthropic clients read `{type: 'error', error: {type, message}}`, the type
 * chosen by status as Anthropic does. A body of neither shape keeps its text as the message.
 */
import { isObject } from './read.ts'

export interface OpenaiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

export interface AnthropicErrorBody {
  type: 'error'
  error: { type: string; message: string }
}

/** An Anthropic error body as OpenAI's envelope; Anthropic's type is kept as type and code. */
export function anthropicErrorToOpenai(status: number, body: unknown): OpenaiErrorBody {
  const { type, message } = errorParts(body)
  const kind = type ?? anthropicErrorTypeForStatus(status)
  return { error: { message, type: kind, param: null, code: kind } }
}

/** An OpenAI-protocol error body as Anthropic's; the type follows the status. */
export function openaiErrorToAnthropic(status: number, body: unknown): AnthropicErrorBody {
  return { type: 'error', error: { type: anthropicErrorTypeForStatus(status), message: errorParts(body).message } }
}

/** The error type Anthropic gives a status. */
export function anthropicErrorTypeForStatus(status: number): string {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 404) return 'not_found_error'
  if (status === 413) return 'request_too_large'
  if (status === 429) return 'rate_limit_error'
  if (status === 503 || status === 529) return 'overloaded_error'
  if (status === 504) return 'timeout_error'
  return status < 500 ? 'invalid_request_error' : 'api_error'
}

function errorParts(body: unknown): { type: string | undefined; message: string } {
  if (typeof body === 'string') return { type: undefined, message: body.slice(0, 1000) || 'no message' }
  const inner = isObject(body) && isObject(body['error']) ? body['error'] : isObject(body) ? body : {}
  const message = typeof inner['message'] === 'string' ? inner['message'] : typeof body === 'object' ? JSON.stringify(body).slice(0, 1000) : 'no message'
  return { type: typeof inner['type'] === 'string' ? inner['type'] : undefined, message }
}
