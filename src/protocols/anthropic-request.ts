/**
 * An Anthropic `/v1/messages` body as an OpenAI `/v1/chat/completions` body, for an
 * Anthropic client served by an OpenAI-protocol backend. Every top-level field has a rule
 * in ANTHROPIC_MESSAGES_FIELDS; what OpenAI cannot express is a 400 naming the field.
 */
import { anthropicMessagesToOpenai } from './anthropic-messages.ts'
import { checkFields, dropped, mapped, refused, type FieldRules } from './fields.ts'
import type { OpenaiChatRequest } from './openai-types.ts'
import { asArray, asBoolean, asInteger, asNumber, asObject, asString, isAbsent, isObject, optional, refuse } from './read.ts'
import { anthropicToolChoiceToOpenai, anthropicToolsToOpenai } from './tools.ts'

const TARGET = 'OpenAI Chat Completions'

/** What happens to each top-level field of an Anthropic request sent to an OpenAI backend. */
export const ANTHROPIC_MESSAGES_FIELDS: FieldRules = {
  model: mapped,
  max_tokens: mapped,
  system: mapped,
  messages: mapped,
  stop_sequences: mapped,
  temperature: mapped,
  top_p: mapped,
  top_k: mapped,
  stream: mapped,
  tools: mapped,
  tool_choice: mapped,
  metadata: mapped,
  output_config: mapped,
  thinking: refused((v) => isObject(v) && v['type'] === 'disabled', 'OpenAI-protocol backends take no thinking budget'),
  inference_geo: refused(undefined, 'where inference runs is not the OpenAI backend’s to promise'),
  container: refused(),
  mcp_servers: refused(),
  context_management: refused(),
  service_tier: dropped('a price and latency class'),
  speed: dropped('a latency class'),
  cache_control: dropped('a caching hint'),
  diagnostics: dropped('reports prompt-cache misses, nothing else'),
}

export interface AnthropicToOpenaiOptions {
  /**
   * Where `max_tokens` goes: `max_tokens` (default: what every OpenAI-compatible server
   * reads: vLLM, llama.cpp, Ollama, LM Studio, OpenRouter) or `max_completion_tokens` (what
   * OpenAI's own reasoning models require).
   */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens'
}

/** Converts the request; throws HerdError `invalid_request` with `param` for what OpenAI cannot express. */
export function anthropicToOpenaiChat(body: unknown, options: AnthropicToOpenaiOptions = {}): OpenaiChatRequest {
  const req = asObject(body, '')
  checkFields(req, ANTHROPIC_MESSAGES_FIELDS, '', TARGET)
  const tools = optional(req, 'tools', '', anthropicToolsToOpenai)
  const hasTools = (tools?.length ?? 0) > 0
  const choice = isAbsent(req['tool_choice']) ? {} : anthropicToolChoiceToOpenai(req['tool_choice'], hasTools)
  const maxTokens = optional(req, 'max_tokens', '', asInteger)
  const stop = optional(req, 'stop_sequences', '', (v, p) => asArray(v, p).map((s, i) => asString(s, `${p}[${i}]`)))
  const temperature = optional(req, 'temperature', '', asNumber)
  const topP = optional(req, 'top_p', '', asNumber)
  const topK = optional(req, 'top_k', '', asInteger)
  const stream = optional(req, 'stream', '', asBoolean)
  return {
    model: asString(req['model'], 'model'),
    messages: anthropicMessagesToOpenai(req['system'], req['messages']),
    ...(maxTokens === undefined ? {} : options.maxTokensField === 'max_completion_tokens' ? { max_completion_tokens: maxTokens } : { max_tokens: maxTokens }),
    ...(stop === undefined || stop.length === 0 ? {} : { stop }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(topP === undefined ? {} : { top_p: topP }),
    ...(topK === undefined ? {} : { top_k: topK }),
    // Anthropic streams always end with usage; OpenAI's only when asked.
    ...(stream === undefined ? {} : stream ? { stream, stream_options: { include_usage: true } } : { stream }),
    ...(tools === undefined ? {} : { tools }),
    ...choice,
    ...user(req['metadata']),
    ...responseFormat(req['output_config']),
  }
}

function user(value: unknown): { user?: string } {
  if (isAbsent(value)) return {}
  const metadata = asObject(value, 'metadata')
  checkFields(metadata, { user_id: mapped }, 'metadata', TARGET)
  const id = optional(metadata, 'user_id', 'metadata', asString)
  return id === undefined ? {} : { user: id }
}

function responseFormat(value: unknown): Pick<OpenaiChatRequest, 'response_format'> {
  if (isAbsent(value)) return {}
  const config = asObject(value, 'output_config')
  checkFields(config, { format: mapped, effort: refused(undefined, 'OpenAI-protocol backends take no effort level') }, 'output_config', TARGET)
  if (isAbsent(config['format'])) return {}
  const format = asObject(config['format'], 'output_config.format')
  checkFields(format, { type: mapped, schema: mapped }, 'output_config.format', TARGET)
  if (format['type'] !== 'json_schema') refuse('output_config.format.type', "'output_config.format.type' must be json_schema")
  const schema = asObject(format['schema'], 'output_config.format.schema')
  // OpenAI requires a name; Anthropic's structured output always holds to the schema.
  return { response_format: { type: 'json_schema', json_schema: { name: 'output', schema, strict: true } } }
}
