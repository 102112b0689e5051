/**
 * A non-streaming Anthropic answer as an OpenAI chat completion, for an OpenAI client of
 * an Anthropic backend. The id and model stay as the backend wrote them; text blocks
 * join into `content`, tool_use blocks become `tool_calls`, thinking becomes
 * `reasoning_content` (where llama.cpp, vLLM and DeepSeek put it); redacted thinking is
 * opaque ciphertext and is dropped. A backend answer that is not a Messages answer is a
 * HerdError `upstream_error`.
 */
import { anthropicStopToFinishReason } from './finish-reasons.ts'
import type { OpenaiAssistantMessage, OpenaiChatCompletion, OpenaiToolCall } from './openai-types.ts'
import { isObject, malformed } from './read.ts'
import { anthropicUsageToOpenai } from './usage.ts'

export interface AnswerOptions {
  /** Seconds since the epoch for `created` (Anthropic answers carry no time); default now. */
  now?: () => number
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

export function anthropicMessageToOpenaiCompletion(answer: unknown, options: AnswerOptions = {}): OpenaiChatCompletion {
  if (!isObject(answer) || (answer['type'] !== undefined && answer['type'] !== 'message')) throw malformed('not an Anthropic message')
  const { id, model, content } = answer
  if (typeof id !== 'string' || typeof model !== 'string' || !Array.isArray(content)) throw malformed('a message needs id, model and content')
  let text: string | null = null
  let reasoning = ''
  const calls: OpenaiToolCall[] = []
  for (const block of content) {
    const type = isObject(block) ? block['type'] : undefined
    if (!isObject(block)) throw malformed('a content block is not an object')
    if (type === 'text' && typeof block['text'] === 'string') text = (text ?? '') + block['text']
    else if (type === 'thinking' && typeof block['thinking'] === 'string') reasoning += block['thinking']
    else if (type === 'tool_use') calls.push(toolCall(block))
    else if (type !== 'redacted_thinking') throw malformed(`content block ${String(type)} has no OpenAI equivalent`)
  }
  const message: OpenaiAssistantMessage = {
    role: 'assistant',
    content: text,
    refusal: null,
    ...(calls.length === 0 ? {} : { tool_calls: calls }),
    ...(reasoning === '' ? {} : { reasoning_content: reasoning }),
  }
  return {
    id,
    object: 'chat.completion',
    created: (options.now ?? nowSeconds)(),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: anthropicStopToFinishReason(answer['stop_reason']) }],
    usage: anthropicUsageToOpenai(answer['usage']),
  }
}

function toolCall(block: Record<string, unknown>): OpenaiToolCall {
  const { id, name, input } = block
  if (typeof id !== 'string' || typeof name !== 'string') throw malformed('a tool_use block needs id and name')
  return { id, type: 'function', function: { name, arguments: JSON.stringify(input ?? {}) } }
}
