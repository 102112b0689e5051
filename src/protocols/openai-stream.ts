/**
 * OpenAI `chat.completion.chunk` events as an Anthropic Messages event stream, for an
 * Anthropic client of an OpenAI backend:
 *
 * - the first chunk → `message_start` (its id and model; usage 0 until the end says more).
 * - `delta.reasoning_content` (or `reasoning`) → a thinking block; `delta.content` and
 *   `delta.refusal` → a text block; `delta.tool_calls[k]` → a tool_use block per k, opened
 *   once its name is known, each `function.arguments` piece an `input_json_delta`. A block
 *   of another kind closes the open one (`content_block_stop`), as Anthropic's blocks
 *   never overlap; arguments for a tool call already closed are an error.
 * - `finish_reason` closes the open block; the usage chunk (the request asked for it)
 *   and `data: [DONE]` (or the end of the stream) give `message_delta` with stop_reason
 *   and usage, then `message_stop`.
 * - an error event → Anthropic's `error` event, and the stream ends; so does a stream that
 *   ends before any finish_reason.
 */
import type { AnthropicMessage } from './anthropic-types.ts'
import { finishReasonToAnthropicStop, type AnthropicStop } from './finish-reasons.ts'
import { isObject, malformed, type JsonObject } from './read.ts'
import { MAX_SSE_EVENT_BYTES, namedEvent, type SseEvent } from './sse.ts'
import { backendError, parseEventData, SseStreamConverter, type StreamConverterInit } from './stream-converter.ts'
import { openaiUsageToAnthropic } from './usage.ts'

type Block = { kind: 'text' | 'thinking'; index: number } | { kind: 'tool'; index: number; tool: number }

interface ToolCall {
  id: string | undefined
  name: string | undefined
  /** Arguments that came before the name (the block cannot start without it). */
  pending: string
  /** The content block index, once started. */
  block: number | undefined
}

export type OpenaiToAnthropicStreamInit = StreamConverterInit

export class OpenaiToAnthropicStream extends SseStreamConverter {
  private started = false
  private open: Block | undefined
  private blocks = 0
  private readonly tools = new Map<number, ToolCall>()
  private stop: AnthropicStop | undefined
  private refused = false
  private usage: unknown

  constructor(init: OpenaiToAnthropicStreamInit = {}) {
    super('anthropic', init)
  }

  protected onEvent(event: SseEvent, out: string[]): void {
    if (event.data.trim() === '[DONE]') return this.complete(out)
    const chunk = parseEventData(event)
    if (chunk['error'] !== undefined || chunk['object'] === 'error' || event.event === 'error') throw backendError(chunk)
    if (!this.started) this.begin(chunk, out)
    const choices = chunk['choices']
    if (Array.isArray(choices)) for (const choice of choices) this.choice(choice, out)
    if (isObject(chunk['usage'])) this.usage = chunk['usage']
  }

  protected onEnd(out: string[]): void {
    // Some servers end without [DONE]; after a finish_reason nothing was lost.
    if (this.stop === undefined) throw malformed('the stream ended before a finish_reason')
    this.complete(out)
  }

  private begin(chunk: JsonObject, out: string[]): void {
    if (typeof chunk['id'] !== 'string' || typeof chunk['model'] !== 'string') throw malformed('a chunk without id and model')
    this.started = true
    const usage = openaiUsageToAnthropic(chunk['usage'])
    const message: AnthropicMessage = {
      id: chunk['id'],
      type: 'message',
      role: 'assistant',
      model: chunk['model'],
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage,
    }
    out.push(namedEvent('message_start', { type: 'message_start', message }))
  }

  private choice(value: unknown, out: string[]): void {
    if (!isObject(value)) throw malformed('a choice is not an object')
    if (value['index'] !== undefined && value['index'] !== 0) throw malformed('a second choice (Anthropic has one)')
    const delta = value['delta']
    if (isObject(delta)) {
      const reasoning = delta['reasoning_content'] ?? delta['reasoning']
      if (typeof reasoning === 'string' && reasoning !== '') this.text('thinking', reasoning, out)
      if (typeof delta['content'] === 'string' && delta['content'] !== '') this.text('text', delta['content'], out)
      if (typeof delta['refusal'] === 'string' && delta['refusal'] !== '') {
        this.refused = true
        this.text('text', delta['refusal'], out)
      }
      if (Array.isArray(delta['tool_calls'])) for (const call of delta['tool_calls']) this.toolDelta(call, out)
    }
    const finish = value['finish_reason']
    if (finish !== null && finish !== undefined) {
      this.closeBlock(out)
      this.stop = this.refused ? { stop_reason: 'refusal', stop_sequence: null } : finishReasonToAnthropicStop(finish, value['stop_reason'])
    }
  }

  private text(kind: 'text' | 'thinking', text: string, out: string[]): void {
    if (this.open?.kind !== kind) {
      this.closeBlock(out)
      this.open = { kind, index: this.blocks++ }
      const block = kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' }
      out.push(namedEvent('content_block_start', { type: 'content_block_start', index: this.open.index, content_block: block }))
    }
    const delta = kind === 'text' ? { type: 'text_delta', text } : { type: 'thinking_delta', thinking: text }
    out.push(namedEvent('content_block_delta', { type: 'content_block_delta', index: this.open.index, delta }))
  }

  private toolDelta(value: unknown, out: string[]): void {
    if (!isObject(value)) throw malformed('a tool call delta is not an object')
    const k = typeof value['index'] === 'number' ? value['index'] : 0
    const fn = isObject(value['function']) ? value['function'] : {}
    let call = this.tools.get(k)
    if (call === undefined) {
      call = { id: undefined, name: undefined, pending: '', block: undefined }
      this.tools.set(k, call)
    }
    if (typeof value['id'] === 'string' && value['id'] !== '') call.id ??= value['id']
    if (typeof fn['name'] === 'string' && fn['name'] !== '') call.name ??= fn['name']
    const args = typeof fn['arguments'] === 'string' ? fn['arguments'] : ''
    if (call.block === undefined) {
      call.pending += args
      if (call.pending.length > MAX_SSE_EVENT_BYTES) throw malformed(`tool call ${k} streamed ${MAX_SSE_EVENT_BYTES} bytes of arguments without a name`)
      if (call.name === undefined) return
      this.closeBlock(out)
      call.block = this.blocks++
      this.open = { kind: 'tool', index: call.block, tool: k }
      const block = { type: 'tool_use', id: call.id ?? `call_${k}`, name: call.name, input: {} }
      out.push(namedEvent('content_block_start', { type: 'content_block_start', index: call.block, content_block: block }))
      this.json(call.block, call.pending, out)
      call.pending = ''
      return
    }
    if (args === '') return
    if (this.open?.kind !== 'tool' || this.open.tool !== k) throw malformed(`arguments for tool call ${k} after its block closed`)
    this.json(call.block, args, out)
  }

  private json(index: number, partial: string, out: string[]): void {
    if (partial === '') return
    out.push(namedEvent('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: partial } }))
  }

  private closeBlock(out: string[]): void {
    if (this.open === undefined) return
    out.push(namedEvent('content_block_stop', { type: 'content_block_stop', index: this.open.index }))
    this.open = undefined
  }

  private complete(out: string[]): void {
    if (!this.started) throw malformed('the stream ended before its first chunk')
    if (this.stop === undefined) throw malformed('the stream ended before a finish_reason')
    for (const [k, call] of this.tools) if (call.block === undefined) throw malformed(`tool call ${k} never named its function`)
    this.closeBlock(out)
    const usage = openaiUsageToAnthropic(this.usage)
    out.push(namedEvent('message_delta', { type: 'message_delta', delta: this.stop, usage }))
    out.push(namedEvent('message_stop', { type: 'message_stop' }))
    this.close()
  }
}
