/**
 * The OpenAI ⇄ Anthropic conversions (src/protocols/) as a Converter for backends: an
 * OpenAI client's chat completion on an `anthropic` backend goes up as a Messages request,
 * an Anthropic client's message on an `openai` backend as a chat completion, and the
 * answer (JSON or SSE) and 4xx error bodies come back in the client's protocol. Only the
 * two chat endpoints convert: token counts (`/v1/messages/count_tokens`,
 * `…/input_tokens`) and the Responses API have no counterpart on the other side.
 */
import type { Readable } from 'node:stream'
import {
  AnthropicToOpenaiStream,
  OpenaiToAnthropicStream,
  anthropicErrorToOpenai,
  anthropicMessageToOpenaiCompletion,
  anthropicToOpenaiChat,
  convertSseStream,
  includeUsage,
  openaiChatToAnthropic,
  openaiCompletionToAnthropicMessage,
  openaiErrorToAnthropic,
} from '../protocols/index.ts'
import type { Conversion, Converter } from './protocol.ts'

/** An OpenAI client (`/v1/chat/completions`) of an Anthropic backend (`/messages`). */
const CHAT_TO_MESSAGES: Conversion = {
  endpoint: 'messages',
  request: (body, settings) => ({ ...openaiChatToAnthropic(body, { defaultMaxTokens: settings.defaultMaxTokens }) }),
  answer: (body) => anthropicMessageToOpenaiCompletion(body),
  stream: (body: Readable, request) => convertSseStream(body, new AnthropicToOpenaiStream({ includeUsage: includeUsage(request) })),
  error: (status, body) => anthropicErrorToOpenai(status, body),
}

/** An Anthropic client (`/v1/messages`) of an OpenAI-protocol backend (`/chat/completions`). */
const MESSAGES_TO_CHAT: Conversion = {
  endpoint: 'chat',
  request: (body, settings) => ({ ...anthropicToOpenaiChat(body, { maxTokensField: settings.maxTokensField }) }),
  answer: (body) => openaiCompletionToAnthropicMessage(body),
  stream: (body: Readable) => convertSseStream(body, new OpenaiToAnthropicStream()),
  error: (status, body) => openaiErrorToAnthropic(status, body),
}

/** The Converter the daemon gives its backends and its API. */
export const convertProtocols: Converter = (endpoint, protocol) => {
  if (endpoint === 'chat' && protocol === 'anthropic') return CHAT_TO_MESSAGES
  if (endpoint === 'messages' && protocol === 'openai') return MESSAGES_TO_CHAT
  return undefined
}
