/**
 * The part of OpenAI's Chat Completions wire format that herd writes when it converts:
 * requests to an OpenAI-protocol backend, and answers and chunks to an OpenAI client.
 * Written from the documented wire format (and the `openai` SDK's types).
 */

export interface OpenaiTextPart {
  type: 'text'
  text: string
}

export interface OpenaiImagePart {
  type: 'image_url'
  image_url: { url: string }
}

export interface OpenaiToolCall {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

export type OpenaiMessage =
  | { role: 'system'; content: string | OpenaiTextPart[] }
  | { role: 'user'; content: string | (OpenaiTextPart | OpenaiImagePart)[] }
  | { role: 'assistant'; content: string | OpenaiTextPart[] | null; tool_calls?: OpenaiToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string | OpenaiTextPart[] }

export interface OpenaiTool {
  type: 'function'
  function: { name: string; description?: string; parameters: Record<string, unknown>; strict?: boolean }
}

export type OpenaiToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } }

/** A `POST /v1/chat/completions` body. */
export interface OpenaiChatRequest {
  model: string
  messages: OpenaiMessage[]
  max_tokens?: number
  max_completion_tokens?: number
  stop?: string[]
  temperature?: number
  top_p?: number
  /** Not OpenAI's own: llama.cpp, vLLM, Ollama and LM Studio honour it, OpenAI refuses it. */
  top_k?: number
  stream?: boolean
  stream_options?: { include_usage: boolean }
  tools?: OpenaiTool[]
  tool_choice?: OpenaiToolChoice
  parallel_tool_calls?: boolean
  user?: string
  response_format?: { type: 'json_schema'; json_schema: { name: string; schema: Record<string, unknown>; strict: boolean } }
}

export type OpenaiFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter'

export interface OpenaiUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number }
  completion_tokens_details?: { reasoning_tokens: number }
}

export interface OpenaiAssistantMessage {
  role: 'assistant'
  content: string | null
  refusal: string | null
  tool_calls?: OpenaiToolCall[]
  /** Thinking text, in the field llama.cpp, vLLM and DeepSeek use for it. */
  reasoning_content?: string
}

/** A non-streaming `/v1/chat/completions` answer. */
export interface OpenaiChatCompletion {
  id: string
  object: 'chat.completion'
  created: number
  model: string
  choices: [{ index: 0; message: OpenaiAssistantMessage; logprobs: null; finish_reason: OpenaiFinishReason }]
  usage: OpenaiUsage
}

/** What one streamed chunk's `choices[0].delta` carries. */
export interface OpenaiDelta {
  role?: 'assistant'
  content?: string
  reasoning_content?: string
  tool_calls?: { index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } }[]
}
