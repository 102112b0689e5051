/**
 * An OpenAI `/v1/chat/completions` body as an Anthropic `/v1/messages` body, for an OpenAI
 * client served by an Anthropic-protocol backend. Every top-level field has a rule in
 * OPENAI_CHAT_FIELDS; what Anthropic cannot express is a 400 naming the field.
 */
import type { AnthropicRequest } from './anthropic-types.ts'
import { checkFields, dropped, mapped, refused, type FieldRules } from './fields.ts'
import { openaiMessagesToAnthropic } from './openai-messages.ts'
import { asArray, asBoolean, asInteger, asNumber, asObject, asString, isAbsent, isObject, optional, refuse, type JsonObject } from './read.ts'
import { openaiToolChoiceToAnthropic, openaiToolsToAnthropic } from './tools.ts'

/**
 * `max_tokens` for Anthropic when the OpenAI request sets neither `max_completion_tokens`
 * nor `max_tokens`: Anthropic requires one, OpenAI defaults to "as much as fits". 4096 is
 * within every current Claude model's output limit and long enough for most answers.
 */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096

const TARGET = 'the Anthropic Messages API'
const isZero = (v: unknown): boolean => v === 0

/** What happens to each top-level field of an OpenAI chat request sent to an Anthropic backend. */
export const OPENAI_CHAT_FIELDS: FieldRules = {
  model: mapped,
  messages: mapped,
  max_completion_tokens: mapped,
  max_tokens: mapped,
  stop: mapped,
  temperature: mapped,
  top_p: mapped,
  top_k: mapped,
  stream: mapped,
  stream_options: mapped,
  tools: mapped,
  tool_choice: mapped,
  parallel_tool_calls: mapped,
  user: mapped,
  safety_identifier: mapped,
  response_format: mapped,
  n: refused((v) => v === 1, 'one choice per request'),
  logprobs: refused((v) => v === false),
  top_logprobs: refused(isZero),
  frequency_penalty: refused(isZero),
  presence_penalty: refused(isZero),
  logit_bias: refused((v) => isObject(v) && Object.keys(v).length === 0),
  modalities: refused((v) => Array.isArray(v) && v.every((m) => m === 'text'), 'text only'),
  audio: refused(),
  reasoning_effort: refused(),
  verbosity: refused(),
  web_search_options: refused(),
  functions: refused(undefined, 'use tools'),
  function_call: refused(undefined, 'use tool_choice'),
  seed: dropped('best effort even at OpenAI; Anthropic has no seed'),
  metadata: dropped('tags for completions stored at OpenAI'),
  store: dropped('whether OpenAI stores the completion'),
  service_tier: dropped('a price and latency class'),
  prompt_cache_key: dropped('a caching hint'),
  prompt_cache_retention: dropped('a caching hint'),
  prompt_cache_options: dropped('a caching hint'),
  prediction: dropped('predicted output only speeds generation up'),
}

export interface OpenaiToAnthropicOptions {
  /** `max_tokens` when the request sets none (default DEFAULT_ANTHROPIC_MAX_TOKENS). */
  defaultMaxTokens?: number
}

/** Converts the request; throws HerdError `invalid_request` with `param` for what Anthropic cannot express. */
export function openaiChatToAnthropic(body: unknown, options: OpenaiToAnthropicOptions = {}): AnthropicRequest {
  const req = asObject(body, '')
  checkFields(req, OPENAI_CHAT_FIELDS, '', TARGET)
  const tools = optional(req, 'tools', '', openaiToolsToAnthropic)
  const toolChoice = openaiToolChoiceToAnthropic(req['tool_choice'], optional(req, 'parallel_tool_calls', '', asBoolean), (tools?.length ?? 0) > 0)
  const temperature = optional(req, 'temperature', '', asNumber)
  if (temperature !== undefined && (temperature < 0 || temperature > 1)) refuse('temperature', "'temperature' must be between 0 and 1 for Anthropic")
  const userId = optional(req, 'safety_identifier', '', asString) ?? optional(req, 'user', '', asString)
  const streamOptions = optional(req, 'stream_options', '', asObject)
  if (streamOptions) checkFields(streamOptions, STREAM_OPTIONS, 'stream_options', TARGET)
  const topP = optional(req, 'top_p', '', asNumber)
  const topK = optional(req, 'top_k', '', asInteger)
  const stream = optional(req, 'stream', '', asBoolean)
  return {
    model: asString(req['model'], 'model'),
    max_tokens: maxTokens(req, options.defaultMaxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS),
    ...openaiMessagesToAnthropic(req['messages']),
    ...stopSequences(req['stop']),
    ...(temperature === undefined ? {} : { temperature }),
    ...(topP === undefined ? {} : { top_p: topP }),
    ...(topK === undefined ? {} : { top_k: topK }),
    ...(stream === undefined ? {} : { stream }),
    ...(tools === undefined ? {} : { tools }),
    ...(toolChoice === undefined ? {} : { tool_choice: toolChoice }),
    ...(userId === undefined ? {} : { metadata: { user_id: userId } }),
    ...outputFormat(req['response_format']),
  }
}

/** `stream_options.include_usage` is honoured by AnthropicToOpenaiStream (see includeUsage). */
const STREAM_OPTIONS = { include_usage: mapped, include_obfuscation: dropped('padding against a side channel of OpenAI') }

/** Whether an OpenAI streaming request asked for the final usage chunk (`stream_options.include_usage`). */
export function includeUsage(body: unknown): boolean {
  return isObject(body) && isObject(body['stream_options']) && body['stream_options']['include_usage'] === true
}

function maxTokens(req: JsonObject, fallback: number): number {
  const completion = optional(req, 'max_completion_tokens', '', asInteger)
  const legacy = optional(req, 'max_tokens', '', asInteger)
  if (completion !== undefined && legacy !== undefined && completion !== legacy) {
    refuse('max_tokens', "'max_tokens' and 'max_completion_tokens' disagree; send one")
  }
  return completion ?? legacy ?? fallback
}

function stopSequences(value: unknown): { stop_sequences?: string[] } {
  if (isAbsent(value)) return {}
  if (typeof value === 'string') return { stop_sequences: [value] }
  return { stop_sequences: asArray(value, 'stop').map((s, i) => asString(s, `stop[${i}]`)) }
}

const JSON_SCHEMA_FIELDS = { name: dropped('an identifier'), schema: mapped, strict: dropped('Anthropic always holds to the schema'), description: refused() }

function outputFormat(value: unknown): Pick<AnthropicRequest, 'output_config'> {
  if (isAbsent(value)) return {}
  const format = asObject(value, 'response_format')
  if (format['type'] === 'text') return {}
  if (format['type'] !== 'json_schema') {
    refuse('response_format.type', `'response_format.type' ${String(format['type'])} cannot be expressed in ${TARGET}: it takes json_schema`)
  }
  checkFields(format, { type: mapped, json_schema: mapped }, 'response_format', TARGET)
  const spec = asObject(format['json_schema'], 'response_format.json_schema')
  checkFields(spec, JSON_SCHEMA_FIELDS, 'response_format.json_schema', TARGET)
  return { output_config: { format: { type: 'json_schema', schema: asObject(spec['schema'], 'response_format.json_schema.schema') } } }
}
