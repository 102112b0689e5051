/**
 * Whether an answer is whole, and what it used: read once, when a missed request's answer
 * has ended, before it is stored. Only a whole answer is ever cached: a JSON body that
 * parses and is not an error, or an event stream that reached its protocol's last event
 * (`data: [DONE]`, `response.completed`, `message_stop`) with no error event anywhere
 * (llama-server, a peer or herd itself ends a stream that failed midway with one).
 */
import { SseDecoder } from '../protocols/index.ts'
import type { Endpoint } from '../router/types.ts'

/** Tokens an answer reports (OpenAI's or Anthropic's names, else llama-server's `timings`). */
export interface CachedUsage {
  inputTokens?: number
  outputTokens?: number
}

export interface AnswerCheck {
  complete: boolean
  usage: CachedUsage | undefined
}

const INCOMPLETE: AnswerCheck = { complete: false, usage: undefined }

/** The event that ends a whole stream, per endpoint (chat and completions end with `data: [DONE]`). */
const LAST_EVENT: Partial<Record<Endpoint, string>> = { responses: 'response.completed', messages: 'message_stop' }

export function checkAnswer(endpoint: Endpoint, body: Buffer, sse: boolean): AnswerCheck {
  return sse ? checkStream(endpoint, body) : checkJson(body)
}

function checkJson(body: Buffer): AnswerCheck {
  const value = parse(body.toString('utf8'))
  if (value === undefined || 'error' in value) return INCOMPLETE
  return { complete: true, usage: usageIn(value) }
}

function checkStream(endpoint: Endpoint, body: Buffer): AnswerCheck {
  const decoder = new SseDecoder()
  let events
  try {
    events = [...decoder.push(body), ...decoder.end()]
  } catch {
    return INCOMPLETE
  }
  const last = LAST_EVENT[endpoint]
  let done = false
  let usage: CachedUsage | undefined
  for (const event of events) {
    if (event.event === 'error') return INCOMPLETE
    if (event.data === '[DONE]') {
      done = last === undefined
      continue
    }
    const value = parse(event.data)
    if (value === undefined || 'error' in value || value['type'] === 'error' || value['type'] === 'response.failed') return INCOMPLETE
    if (last !== undefined && (value['type'] === last || event.event === last)) done = true
    usage = merge(usage, usageIn(value))
  }
  return done ? { complete: true, usage } : INCOMPLETE
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** Usage as OpenAI (`usage`), the Responses API (`response.usage`) or Anthropic (`usage`, `message.usage`) put it. */
export function usageIn(value: Record<string, unknown>): CachedUsage | undefined {
  const u = object(value['usage']) ?? object(object(value['response'])?.['usage']) ?? object(object(value['message'])?.['usage'])
  const t = object(value['timings'])
  const inputTokens = count(u?.['prompt_tokens']) ?? count(u?.['input_tokens']) ?? count(t?.['prompt_n'])
  const outputTokens = count(u?.['completion_tokens']) ?? count(u?.['output_tokens']) ?? count(t?.['predicted_n'])
  if (inputTokens === undefined && outputTokens === undefined) return undefined
  return { ...(inputTokens === undefined ? {} : { inputTokens }), ...(outputTokens === undefined ? {} : { outputTokens }) }
}

/** A stream's usage: later events win (Anthropic's message_delta has the final output count). */
function merge(a: CachedUsage | undefined, b: CachedUsage | undefined): CachedUsage | undefined {
  if (a === undefined || b === undefined) return b ?? a
  return { ...a, ...b }
}

function object(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined
}
