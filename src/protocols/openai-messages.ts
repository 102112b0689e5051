/**
 * OpenAI chat `messages` as Anthropic's `system` and `messages`. Leading system and
 * developer messages become the one system prompt; a system message after the first
 * user or assistant turn is refused (Anthropic has no place for it, and moving it to
 * the top would change what it means). Tool messages become user turns of tool_result
 * blocks; consecutive turns of one role are merged, as Anthropic itself would.
 */
import type { AnthropicContentBlock, AnthropicMessageParam, AnthropicTextBlock, AnthropicToolResultBlock } from './anthropic-types.ts'
import { checkFields, dropped, mapped, type FieldRules } from './fields.ts'
import { openaiImageToAnthropic } from './images.ts'
import { asArray, asObject, asString, at, isAbsent, key, refuse, type JsonObject } from './read.ts'
import { openaiToolCallToAnthropic } from './tools.ts'

const TARGET = 'the Anthropic Messages API'

const NAME_HINT = 'Anthropic messages have no participant names'
const FIELDS: Record<string, FieldRules> = {
  system: { role: mapped, content: mapped },
  developer: { role: mapped, content: mapped },
  user: { role: mapped, content: mapped },
  assistant: { role: mapped, content: mapped, tool_calls: mapped, refusal: mapped },
  tool: { role: mapped, content: mapped, tool_call_id: mapped },
}
const CACHE_HINT = dropped('a caching hint')
const TEXT_PART: FieldRules = { type: mapped, text: mapped, prompt_cache_breakpoint: CACHE_HINT }
const IMAGE_PART: FieldRules = { type: mapped, image_url: mapped, prompt_cache_breakpoint: CACHE_HINT }
const REFUSAL_PART: FieldRules = { type: mapped, refusal: mapped }

export interface AnthropicConversation {
  system?: string | AnthropicTextBlock[]
  messages: AnthropicMessageParam[]
}

export function openaiMessagesToAnthropic(value: unknown): AnthropicConversation {
  const list = asArray(value, 'messages')
  const system: AnthropicTextBlock[] = []
  const messages: AnthropicMessageParam[] = []
  list.forEach((item, i) => {
    const path = at('messages', i)
    const msg = asObject(item, path)
    const role = asString(msg['role'], key(path, 'role'))
    const fields = Object.hasOwn(FIELDS, role) ? FIELDS[role] : undefined
    if (fields === undefined) refuse(key(path, 'role'), `'${key(path, 'role')}' ${role} has no equivalent in ${TARGET}`)
    if (Object.hasOwn(msg, 'name')) refuse(key(path, 'name'), `'${key(path, 'name')}' cannot be expressed in ${TARGET}: ${NAME_HINT}`)
    checkFields(msg, fields, path, TARGET)
    const content = key(path, 'content')
    if (role === 'system' || role === 'developer') {
      if (messages.length > 0) {
        refuse(
          key(path, 'role'),
          `'${key(path, 'role')}': Anthropic takes one system prompt before the conversation; a ${role} message after it cannot be converted`,
        )
      }
      system.push(...textBlocks(msg['content'], content))
    } else if (role === 'user') {
      push(messages, 'user', userContent(msg['content'], content))
    } else if (role === 'assistant') {
      push(messages, 'assistant', assistantContent(msg, path))
    } else {
      const result: AnthropicToolResultBlock = {
        type: 'tool_result',
        tool_use_id: asString(msg['tool_call_id'], key(path, 'tool_call_id')),
        content: typeof msg['content'] === 'string' ? msg['content'] : textBlocks(msg['content'], content),
      }
      push(messages, 'user', [result])
    }
  })
  const last = messages.at(-1)
  if (last?.role === 'assistant') {
    refuse(
      at('messages', list.length - 1),
      `'${at('messages', list.length - 1)}': Anthropic continues a final assistant message (prefill), OpenAI answers after it`,
    )
  }
  if (system.length === 0) return { messages }
  // One system message written as a string stays a string.
  const only = system.length === 1 && typeof asObject(list[0], 'messages[0]')['content'] === 'string' ? system[0] : undefined
  return { system: only ? only.text : system, messages }
}

/** Appends a turn, merging it into the previous one of the same role. */
function push(messages: AnthropicMessageParam[], role: 'user' | 'assistant', content: string | AnthropicContentBlock[]): void {
  const prev = messages.at(-1)
  if (prev?.role !== role) {
    messages.push({ role, content })
    return
  }
  prev.content = [...asBlocks(prev.content), ...asBlocks(content)]
}

const asBlocks = (content: string | AnthropicContentBlock[]): AnthropicContentBlock[] =>
  typeof content === 'string' ? [{ type: 'text', text: content }] : content

function textBlocks(value: unknown, path: string): AnthropicTextBlock[] {
  if (typeof value === 'string') return [{ type: 'text', text: value }]
  return asArray(value, path).map((item, j) => textPart(asObject(item, at(path, j)), at(path, j)))
}

function textPart(part: JsonObject, path: string): AnthropicTextBlock {
  if (part['type'] !== 'text') refuse(key(path, 'type'), `'${key(path, 'type')}' must be text here`)
  checkFields(part, TEXT_PART, path, TARGET)
  return { type: 'text', text: asString(part['text'], key(path, 'text')) }
}

function userContent(value: unknown, path: string): string | AnthropicContentBlock[] {
  if (typeof value === 'string') return value
  return asArray(value, path).map((item, j): AnthropicContentBlock => {
    const partPath = at(path, j)
    const part = asObject(item, partPath)
    const type = part['type']
    if (type === 'text') return textPart(part, partPath)
    if (type === 'image_url') {
      checkFields(part, IMAGE_PART, partPath, TARGET)
      return openaiImageToAnthropic(part, partPath)
    }
    refuse(key(partPath, 'type'), `'${key(partPath, 'type')}' ${String(type)} has no equivalent in ${TARGET} (text and image_url do)`)
  })
}

function assistantContent(msg: JsonObject, path: string): AnthropicContentBlock[] {
  const blocks: AnthropicContentBlock[] = []
  const content = msg['content']
  const contentPath = key(path, 'content')
  if (typeof content === 'string') {
    if (content !== '') blocks.push({ type: 'text', text: content })
  } else if (!isAbsent(content)) {
    asArray(content, contentPath).forEach((item, j) => {
      const partPath = at(contentPath, j)
      const part = asObject(item, partPath)
      if (part['type'] === 'refusal') {
        checkFields(part, REFUSAL_PART, partPath, TARGET)
        blocks.push({ type: 'text', text: asString(part['refusal'], key(partPath, 'refusal')) })
      } else blocks.push(textPart(part, partPath))
    })
  }
  // A refusal the assistant gave earlier is what it said: text, to Anthropic.
  if (!isAbsent(msg['refusal'])) blocks.push({ type: 'text', text: asString(msg['refusal'], key(path, 'refusal')) })
  if (!isAbsent(msg['tool_calls'])) {
    const callsPath = key(path, 'tool_calls')
    asArray(msg['tool_calls'], callsPath).forEach((call, j) => blocks.push(openaiToolCallToAnthropic(call, at(callsPath, j))))
  }
  return blocks
}
