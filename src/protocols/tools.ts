/**
 * Tools, tool choice and tool calls in requests, both ways. OpenAI function tools are
 * Anthropic custom tools (`parameters` is `input_schema`); OpenAI's tool calls carry their
 * arguments as a JSON string, Anthropic's tool_use blocks as an object.
 */
import type { AnthropicTool, AnthropicToolChoice, AnthropicToolUseBlock } from './anthropic-types.ts'
import { checkFields, dropped, mapped, refused, type FieldRules } from './fields.ts'
import type { OpenaiTool, OpenaiToolCall, OpenaiToolChoice } from './openai-types.ts'
import { asArray, asBoolean, asObject, asString, at, isAbsent, isObject, key, optional, refuse, type JsonObject } from './read.ts'

const TO_ANTHROPIC = 'the Anthropic Messages API'
const TO_OPENAI = 'OpenAI Chat Completions'

/** What a tool without parameters declares: Anthropic requires a schema. */
const EMPTY_SCHEMA = { type: 'object', properties: {} }

const OPENAI_TOOL_FIELDS = { type: mapped, function: mapped }
const OPENAI_FUNCTION_FIELDS = { name: mapped, description: mapped, parameters: mapped, strict: mapped }
const OPENAI_TOOL_CALL_FIELDS = { ...OPENAI_TOOL_FIELDS, id: mapped }

export function openaiToolsToAnthropic(value: unknown): AnthropicTool[] {
  return asArray(value, 'tools').map((item, i) => {
    const path = at('tools', i)
    const tool = asObject(item, path)
    if (tool['type'] !== 'function') refuse(key(path, 'type'), `'${key(path, 'type')}' must be function (Anthropic has no custom-grammar tools)`)
    checkFields(tool, OPENAI_TOOL_FIELDS, path, TO_ANTHROPIC)
    const fnPath = key(path, 'function')
    const fn = asObject(tool['function'], fnPath)
    checkFields(fn, OPENAI_FUNCTION_FIELDS, fnPath, TO_ANTHROPIC)
    const description = optional(fn, 'description', fnPath, asString)
    const strict = optional(fn, 'strict', fnPath, asBoolean)
    return {
      name: asString(fn['name'], key(fnPath, 'name')),
      ...(description === undefined ? {} : { description }),
      input_schema: optional(fn, 'parameters', fnPath, asObject) ?? EMPTY_SCHEMA,
      ...(strict === true ? { strict } : {}),
    }
  })
}

/** `tool_choice` plus `parallel_tool_calls: false` as Anthropic's one `tool_choice`. */
export function openaiToolChoiceToAnthropic(choice: unknown, parallel: boolean | undefined, hasTools: boolean): AnthropicToolChoice | undefined {
  const serial = parallel === false && hasTools ? { disable_parallel_tool_use: true } : {}
  if (isAbsent(choice)) return parallel === false && hasTools ? { type: 'auto', ...serial } : undefined
  if (choice === 'auto') return { type: 'auto', ...serial }
  if (choice === 'required') return { type: 'any', ...serial }
  if (choice === 'none') return { type: 'none' }
  if (isObject(choice) && choice['type'] === 'function') {
    checkFields(choice, { type: mapped, function: mapped }, 'tool_choice', TO_ANTHROPIC)
    const fn = asObject(choice['function'], 'tool_choice.function')
    checkFields(fn, { name: mapped }, 'tool_choice.function', TO_ANTHROPIC)
    return { type: 'tool', name: asString(fn['name'], 'tool_choice.function.name'), ...serial }
  }
  refuse('tool_choice', "'tool_choice' must be auto, none, required or {type: 'function', function: {name}} to convert to Anthropic")
}

/** An assistant message's `tool_calls[i]` as a tool_use block. */
export function openaiToolCallToAnthropic(value: unknown, path: string): AnthropicToolUseBlock {
  const call = asObject(value, path)
  if (call['type'] !== 'function') refuse(key(path, 'type'), `'${key(path, 'type')}' must be function`)
  checkFields(call, OPENAI_TOOL_CALL_FIELDS, path, TO_ANTHROPIC)
  const fnPath = key(path, 'function')
  const fn = asObject(call['function'], fnPath)
  checkFields(fn, { name: mapped, arguments: mapped }, fnPath, TO_ANTHROPIC)
  const argsPath = key(fnPath, 'arguments')
  const input = parseToolArguments(asString(fn['arguments'], argsPath))
  if (input === undefined) refuse(argsPath, `'${argsPath}' must be a JSON object (Anthropic tool input is an object)`)
  return { type: 'tool_use', id: asString(call['id'], key(path, 'id')), name: asString(fn['name'], key(fnPath, 'name')), input }
}

/** Tool call arguments (a JSON text) as an object; `''` is `{}`; undefined when not a JSON object. */
export function parseToolArguments(text: string): JsonObject | undefined {
  if (text.trim() === '') return {}
  try {
    const value: unknown = JSON.parse(text)
    return isObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

const ANTHROPIC_TOOL_FIELDS = {
  name: mapped,
  description: mapped,
  input_schema: mapped,
  type: mapped,
  strict: mapped,
  cache_control: dropped('a caching hint'),
  eager_input_streaming: dropped('how finely the input streams, not what it says'),
  defer_loading: refused((v) => v === false),
  input_examples: refused(),
}

export function anthropicToolsToOpenai(value: unknown): OpenaiTool[] {
  return asArray(value, 'tools').map((item, i) => {
    const path = at('tools', i)
    const tool = asObject(item, path)
    // Anthropic's own tools (bash_…, web_search_…, computer_…) run on Anthropic's side.
    if (!isAbsent(tool['type']) && tool['type'] !== 'custom')
      refuse(key(path, 'type'), `'${key(path, 'type')}' is a server tool that OpenAI backends do not run`)
    checkFields(tool, ANTHROPIC_TOOL_FIELDS, path, TO_OPENAI)
    const description = optional(tool, 'description', path, asString)
    const strict = optional(tool, 'strict', path, asBoolean)
    const fn = {
      name: asString(tool['name'], key(path, 'name')),
      ...(description === undefined ? {} : { description }),
      parameters: asObject(tool['input_schema'], key(path, 'input_schema')),
      ...(strict === undefined ? {} : { strict }),
    }
    return { type: 'function', function: fn }
  })
}

/** Anthropic's `tool_choice` as OpenAI's `tool_choice` and `parallel_tool_calls`. */
export function anthropicToolChoiceToOpenai(value: unknown, hasTools: boolean): { tool_choice?: OpenaiToolChoice; parallel_tool_calls?: false } {
  const choice = asObject(value, 'tool_choice')
  const type = choice['type']
  const fields: FieldRules =
    type === 'tool' ? { type: mapped, name: mapped, disable_parallel_tool_use: mapped } : { type: mapped, disable_parallel_tool_use: mapped }
  checkFields(choice, fields, 'tool_choice', TO_OPENAI)
  const serial = optional(choice, 'disable_parallel_tool_use', 'tool_choice', asBoolean) === true && hasTools ? { parallel_tool_calls: false as const } : {}
  if (type === 'auto') return { tool_choice: 'auto', ...serial }
  if (type === 'any') return { tool_choice: 'required', ...serial }
  if (type === 'none') return { tool_choice: 'none' }
  if (type === 'tool') return { tool_choice: { type: 'function', function: { name: asString(choice['name'], 'tool_choice.name') } }, ...serial }
  refuse('tool_choice.type', "'tool_choice.type' must be auto, any, tool or none")
}

const TOOL_USE_FIELDS = {
  type: mapped,
  id: mapped,
  name: mapped,
  input: mapped,
  cache_control: dropped('a caching hint'),
  caller: refused((v) => isObject(v) && v['type'] === 'direct'),
}

/** An assistant tool_use block as an OpenAI tool call. */
export function anthropicToolUseToOpenai(block: JsonObject, path: string): OpenaiToolCall {
  checkFields(block, TOOL_USE_FIELDS, path, TO_OPENAI)
  const input = asObject(block['input'], key(path, 'input'))
  return {
    id: asString(block['id'], key(path, 'id')),
    type: 'function',
    function: { name: asString(block['name'], key(path, 'name')), arguments: JSON.stringify(input) },
  }
}
