/**
 * An Anthropic Messages event stream as OpenAI `chat.completion.chunk` events, for an
 * OpenAI client of an Anthropic backend:
 *
 * - `message_start` → the first chunk (`delta: {role: 'assistant', content: ''}`); its id
 *   and model are every chunk's.
 * - `text_delta` → `delta.content`; `thinking_delta` → `delta.reasoning_content`.
 * - a tool_use block → `delta.tool_calls[k]` with id, name and empty arguments, then each
 *   `input_json_delta` → `delta.tool_calls[k].function.arguments` (k counts tool calls).
 * - `message_delta` with stop_reason → a chunk with `finish_reason`.
 * - `message_stop` → the usage chunk (`choices: []`) when the client asked for it
 *   (`stream_options.include_usage`), then `data: [DONE]`.
 * - `ping`, `content_block_stop`, signature and citation deltas, redacted thinking, and
 *   event types Anthropic adds later (its versioning policy says to ignore them) → nothing.
 * - `error` → OpenAI's error event, and the stream ends; so does a stream that stops
 *   before `message_stop`.
 */
import { anthropicStopToFinishReason } from './finish-reasons.ts'
import type { OpenaiDelta, OpenaiFinishReason } from './openai-types.ts'
import { isObject, malformed, type JsonObject } from './read.ts'
import { dataEvent, type SseEvent } from './sse.ts'
import { backendError, parseEventData, SseStreamConverter, type StreamConverterInit } from './stream-converter.ts'
import { anthropicUsageToOpenai } from './usage.ts'
import { nowSeconds } from './anthropic-response.ts'

export interface AnthropicToOpenaiStreamInit extends StreamConverterInit {
  /** End with a usage chunk: the OpenAI request's `stream_options.include_usage` (see includeUsage()). */
  includeUsage?: boolean
  /** Seconds since the epoch for every chunk's `created`; default now. */
  now?: () => number
}

export class AnthropicToOpenaiStream extends SseStreamConverter {
  private readonly includeUsage: boolean
  private readonly created: number
  private id = ''
  private model = ''
  private started = false
  private finishSent = false
  /** Anthropic content block index → OpenAI tool call index. */
  private readonly toolIndex = new Map<number, number>()
  private usage: JsonObject = {}

  constructor(init: AnthropicToOpenaiStreamInit = {}) {
    super('openai', init)
    this.includeUsage = init.includeUsage === true
    this.created = (init.now ?? nowSeconds)()
  }

  protected onEvent(event: SseEvent, out: string[]): void {
    const data = parseEventData(event)
    const type = data['type'] ?? event.event
    if (type === 'error' || event.event === 'error') throw backendError(data)
    if (type === 'ping') return
    if (type === 'message_start') return this.start(data, out)
    if (!this.started) throw malformed(`${String(type)} before message_start`)
    if (type === 'content_block_start') this.blockStart(data, out)
    else if (type === 'content_block_delta') this.blockDelta(data, out)
    else if (type === 'message_delta') this.messageDelta(data, out)
    else if (type === 'message_stop') this.stop(out)
  }

  protected onEnd(): void {
    throw malformed('the stream ended before message_stop')
  }

  private chunk(delta: OpenaiDelta, finish: OpenaiFinishReason | null = null): string {
    const choice = { index: 0, delta, logprobs: null, finish_reason: finish }
    return dataEvent({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [choice] })
  }

  private start(data: JsonObject, out: string[]): void {
    const message = data['message']
    if (!isObject(message) || typeof message['id'] !== 'string' || typeof message['model'] !== 'string') throw malformed('message_start without id and model')
    if (this.started) throw malformed('a second message_start')
    this.started = true
    this.id = message['id']
    this.model = message['model']
    if (isObject(message['usage'])) this.usage = { ...message['usage'] }
    out.push(this.chunk({ role: 'assistant', content: '' }))
  }

  private blockStart(data: JsonObject, out: string[]): void {
    const block = data['content_block']
    const index = data['index']
    if (!isObject(block) || typeof index !== 'number') throw malformed('content_block_start without index and content_block')
    const type = block['type']
    if (type === 'text') {
      if (typeof block['text'] === 'string' && block['text'] !== '') out.push(this.chunk({ content: block['text'] }))
    } else if (type === 'thinking') {
      if (typeof block['thinking'] === 'string' && block['thinking'] !== '') out.push(this.chunk({ reasoning_content: block['thinking'] }))
    } else if (type === 'tool_use') {
      if (typeof block['id'] !== 'string' || typeof block['name'] !== 'string') throw malformed('a tool_use block without id and name')
      const k = this.toolIndex.size
      this.toolIndex.set(index, k)
      // Anthropic starts a tool's input as {} and streams it; a server that sends it whole here still works.
      const input = isObject(block['input']) && Object.keys(block['input']).length > 0 ? JSON.stringify(block['input']) : ''
      out.push(this.chunk({ tool_calls: [{ index: k, id: block['id'], type: 'function', function: { name: block['name'], arguments: input } }] }))
    } else if (type !== 'redacted_thinking') throw malformed(`content block ${String(type)} has no OpenAI equivalent`)
  }

  private blockDelta(data: JsonObject, out: string[]): void {
    const delta = data['delta']
    if (!isObject(delta)) throw malformed('content_block_delta without delta')
    const type = delta['type']
    if (type === 'text_delta' && typeof delta['text'] === 'string') out.push(this.chunk({ content: delta['text'] }))
    else if (type === 'thinking_delta' && typeof delta['thinking'] === 'string') out.push(this.chunk({ reasoning_content: delta['thinking'] }))
    else if (type === 'input_json_delta' && typeof delta['partial_json'] === 'string') {
      const k = typeof data['index'] === 'number' ? this.toolIndex.get(data['index']) : undefined
      if (k === undefined) throw malformed('input_json_delta outside a tool_use block')
      if (delta['partial_json'] !== '') out.push(this.chunk({ tool_calls: [{ index: k, function: { arguments: delta['partial_json'] } }] }))
    }
  }

  private messageDelta(data: JsonObject, out: string[]): void {
    // Usage in message_delta is cumulative: what it names replaces what message_start said.
    if (isObject(data['usage'])) for (const [k, v] of Object.entries(data['usage'])) if (v !== null && v !== undefined) this.usage[k] = v
    const delta = data['delta']
    const reason = isObject(delta) ? delta['stop_reason'] : undefined
    if (reason === null || reason === undefined || this.finishSent) return
    this.finishSent = true
    out.push(this.chunk({}, anthropicStopToFinishReason(reason)))
  }

  private stop(out: string[]): void {
    if (!this.finishSent) out.push(this.chunk({}, 'stop'))
    if (this.includeUsage) {
      out.push(
        dataEvent({
          id: this.id,
          object: 'chat.completion.chunk',
          created: this.created,
          model: this.model,
          choices: [],
          usage: anthropicUsageToOpenai(this.usage),
        }),
      )
    }
    out.push('data: [DONE]\n\n')
    this.close()
  }
}
