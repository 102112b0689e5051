/**
 * A non-streaming OpenAI chat completion as an Anthropic message, for an Anthropic client
 * of an OpenAI backend. The id and model stay as the backend wrote them. Blocks come in
 * the order a model writes them: thinking (from `reasoning_content`, or `reasoning` as
 * Ollama and newer vLLM name it; Anthropic's signature is left empty, none exists), text,
 * then tool_use. A refusal is text with stop_reason `refusal`. A backend answer that is
 * not a chat completion with exactly one choice is a HerdError `upstream_error`.
 */
import type { AnthropicContentBlock, AnthropicMessage } from './anthropic-types.ts'
import { finishReasonToAnthropicStop } from './finish-reasons.ts'
import { isObject, malformed, type JsonObject } from './read.ts'
import { parseToolArguments } from './tools.ts'
import { openaiUsageToAnthropic } from './usage.ts'

export function openaiCompletionToAnthropicMessage(answer: unknown): AnthropicMessage {
  if (!isObject(answer)) throw malformed('not an OpenAI chat completion')
  const { id, model, choices } = answer
  if (typeof id !== 'string' || typeof model !== 'string' || !Array.isArray(choices)) throw malformed('a chat completion needs id, model and choices')
  if (choices.length !== 1) throw malformed(`${choices.length} choices, Anthropic has one`)
  const choice: unknown = choices[0]
  if (!isObject(choice) || !isObject(choice['message'])) throw malformed('choices[0] has no message')
  const message = choice['message']
  const content: AnthropicContentBlock[] = []
  const reasoning = message['reasoning_content'] ?? message['reasoning']
  if (typeof reasoning === 'string' && reasoning !== '') content.push({ type: 'thinking', thinking: reasoning, signature: '' })
  content.push(...textBlocks(message['content']))
  const refusal = message['refusal']
  if (typeof refusal === 'string' && refusal !== '') content.push({ type: 'text', text: refusal })
  const calls = message['tool_calls']
  if (Array.isArray(calls)) for (const call of calls) content.push(toolUse(call))
  const stop = finishReasonToAnthropicStop(choice['finish_reason'], choice['stop_reason'])
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    ...(typeof refusal === 'string' && refusal !== '' ? { stop_reason: 'refusal', stop_sequence: null } : stop),
    usage: openaiUsageToAnthropic(answer['usage']),
  }
}

function textBlocks(value: unknown): AnthropicContentBlock[] {
  if (value === null || value === undefined || value === '') return []
  if (typeof value === 'string') return [{ type: 'text', text: value }]
  // Some servers answer with content parts; text is all an assistant writes.
  if (!Array.isArray(value)) throw malformed('message.content is neither text nor parts')
  return value.map((part: unknown) => {
    if (!isObject(part) || part['type'] !== 'text' || typeof part['text'] !== 'string') throw malformed('a content part is not text')
    return { type: 'text', text: part['text'] }
  })
}

function toolUse(value: unknown): AnthropicContentBlock {
  const fn: unknown = isObject(value) ? value['function'] : undefined
  if (!isObject(value) || !isObject(fn) || typeof value['id'] !== 'string' || typeof fn['name'] !== 'string') {
    throw malformed('a tool call needs id and function.name')
  }
  const input: JsonObject | undefined = parseToolArguments(typeof fn['arguments'] === 'string' ? fn['arguments'] : '')
  if (input === undefined) throw malformed(`tool call ${value['id']} has arguments that are not a JSON object`)
  return { type: 'tool_use', id: value['id'], name: fn['name'], input }
}
