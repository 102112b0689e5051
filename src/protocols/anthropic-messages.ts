/**
 * Anthropic's `system` and `messages` as OpenAI chat `messages`. The system prompt leads;
 * a user turn's tool_result blocks become `tool` messages, before the rest of that turn;
 * an assistant turn's tool_use blocks become its `tool_calls`. Thinking blocks in the
 * history are dropped: Anthropic itself strips earlier turns' thinking from the context,
 * and an OpenAI backend could not verify their signatures anyway.
 */
import { checkFields, dropped, mapped, refused, type FieldRules } from './fields.ts'
import { anthropicImageToOpenai } from './images.ts'
import type { OpenaiImagePart, OpenaiMessage, OpenaiTextPart, OpenaiToolCall } from './openai-types.ts'
import { asArray, asObject, asString, at, key, refuse, type JsonObject } from './read.ts'
import { anthropicToolUseToOpenai } from './tools.ts'

const TARGET = 'OpenAI Chat Completions'
const CACHE_HINT = dropped('a caching hint')
const TEXT_BLOCK: FieldRules = { type: mapped, text: mapped, cache_control: CACHE_HINT, citations: refused((v) => Array.isArray(v) && v.length === 0) }
const TOOL_RESULT: FieldRules = {
  type: mapped,
  tool_use_id: mapped,
  content: mapped,
  cache_control: CACHE_HINT,
  is_error: dropped('OpenAI tool messages have no error flag; the result text says what failed'),
}
const MESSAGE: FieldRules = { role: mapped, content: mapped }
const HISTORY_THINKING = new Set(['thinking', 'redacted_thinking'])

export function anthropicMessagesToOpenai(system: unknown, messages: unknown): OpenaiMessage[] {
  const out: OpenaiMessage[] = []
  if (typeof system === 'string') out.push({ role: 'system', content: system })
  else if (system !== undefined && system !== null) out.push({ role: 'system', content: textParts(system, 'system') })
  const list = asArray(messages, 'messages')
  list.forEach((item, i) => {
    const path = at('messages', i)
    const msg = asObject(item, path)
    checkFields(msg, MESSAGE, path, TARGET)
    const role = msg['role']
    const content = msg['content']
    const contentPath = key(path, 'content')
    if (role === 'system') out.push({ role: 'system', content: typeof content === 'string' ? content : textParts(content, contentPath) })
    else if (role === 'user') out.push(...userTurn(content, contentPath))
    else if (role === 'assistant') out.push(assistantTurn(content, contentPath))
    else refuse(key(path, 'role'), `'${key(path, 'role')}' must be user, assistant or system`)
  })
  const last = list.length === 0 ? undefined : asObject(list[list.length - 1], '')
  if (last?.['role'] === 'assistant') {
    refuse(
      at('messages', list.length - 1),
      `'${at('messages', list.length - 1)}': a final assistant message is continued by Anthropic (prefill); OpenAI would answer after it`,
    )
  }
  return out
}

function blocks(value: unknown, path: string): JsonObject[] {
  return asArray(value, path).map((item, j) => asObject(item, at(path, j)))
}

function textPart(block: JsonObject, path: string): OpenaiTextPart {
  if (block['type'] !== 'text') refuse(key(path, 'type'), `'${key(path, 'type')}' must be text here`)
  checkFields(block, TEXT_BLOCK, path, TARGET)
  return { type: 'text', text: asString(block['text'], key(path, 'text')) }
}

function textParts(value: unknown, path: string): OpenaiTextPart[] {
  return blocks(value, path).map((block, j) => textPart(block, at(path, j)))
}

function userTurn(content: unknown, path: string): OpenaiMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }]
  const tools: OpenaiMessage[] = []
  const parts: (OpenaiTextPart | OpenaiImagePart)[] = []
  blocks(content, path).forEach((block, j) => {
    const blockPath = at(path, j)
    const type = block['type']
    if (type === 'tool_result') {
      // Anthropic's own rule, kept: OpenAI tool messages must follow the assistant's calls directly.
      if (parts.length > 0) refuse(key(blockPath, 'type'), `'${key(blockPath, 'type')}': tool_result blocks must come before other content`)
      tools.push(toolMessage(block, blockPath))
    } else if (type === 'text') parts.push(textPart(block, blockPath))
    else if (type === 'image') parts.push(anthropicImageToOpenai(block, blockPath))
    else refuse(key(blockPath, 'type'), `'${key(blockPath, 'type')}' ${String(type)} has no equivalent in ${TARGET} (text, image and tool_result do)`)
  })
  return parts.length === 0 ? tools : [...tools, { role: 'user', content: parts }]
}

function toolMessage(block: JsonObject, path: string): OpenaiMessage {
  checkFields(block, TOOL_RESULT, path, TARGET)
  const id = asString(block['tool_use_id'], key(path, 'tool_use_id'))
  const content = block['content']
  if (content === undefined || content === null) return { role: 'tool', tool_call_id: id, content: '' }
  if (typeof content === 'string') return { role: 'tool', tool_call_id: id, content }
  const parts = textParts(content, key(path, 'content'))
  const only = parts.length === 1 ? parts[0] : undefined
  return { role: 'tool', tool_call_id: id, content: only ? only.text : parts }
}

function assistantTurn(content: unknown, path: string): OpenaiMessage {
  if (typeof content === 'string') return { role: 'assistant', content }
  const parts: OpenaiTextPart[] = []
  const calls: OpenaiToolCall[] = []
  blocks(content, path).forEach((block, j) => {
    const blockPath = at(path, j)
    const type = block['type']
    if (type === 'text') parts.push(textPart(block, blockPath))
    else if (type === 'tool_use') calls.push(anthropicToolUseToOpenai(block, blockPath))
    else if (typeof type !== 'string' || !HISTORY_THINKING.has(type)) {
      refuse(key(blockPath, 'type'), `'${key(blockPath, 'type')}' ${String(type)} has no equivalent in ${TARGET} (text, tool_use and thinking do)`)
    }
  })
  const only = parts.length === 1 ? parts[0] : undefined
  const text = parts.length === 0 ? null : only ? only.text : parts
  return { role: 'assistant', content: text, ...(calls.length === 0 ? {} : { tool_calls: calls }) }
}
