/**
 * Protocol adaptations: between what llama-server speaks and what clients expect, and
 * between OpenAI Chat Completions and Anthropic Messages (requests, answers, SSE streams,
 * error bodies), pure and synchronous. SPEC.md "Protocol conversion" has the field table.
 */
export { completeResponses, completeResponsesStream, MAX_RESPONSES_EVENT_BYTES, type ResponsesStreamInit } from './responses-stream.ts'
export { completeMessages, completeMessagesStream, MAX_FIRST_EVENT_BYTES, type MessagesStreamInit } from './messages-stream.ts'

export { DEFAULT_ANTHROPIC_MAX_TOKENS, includeUsage, OPENAI_CHAT_FIELDS, openaiChatToAnthropic, type OpenaiToAnthropicOptions } from './openai-request.ts'
export { ANTHROPIC_MESSAGES_FIELDS, anthropicToOpenaiChat, type AnthropicToOpenaiOptions } from './anthropic-request.ts'
export { anthropicMessageToOpenaiCompletion, type AnswerOptions } from './anthropic-response.ts'
export { openaiCompletionToAnthropicMessage } from './openai-response.ts'
export { AnthropicToOpenaiStream, type AnthropicToOpenaiStreamInit } from './anthropic-stream.ts'
export { OpenaiToAnthropicStream, type OpenaiToAnthropicStreamInit } from './openai-stream.ts'
export { convertSseStream, type SseConverter, type StreamConverterInit } from './stream-converter.ts'
export { MAX_SSE_EVENT_BYTES, SseDecoder, type SseEvent } from './sse.ts'
export { anthropicErrorToOpenai, openaiErrorToAnthropic, type AnthropicErrorBody, type OpenaiErrorBody } from './error-bodies.ts'
export { anthropicStopToFinishReason, finishReasonToAnthropicStop } from './finish-reasons.ts'
export { anthropicUsageToOpenai, openaiUsageToAnthropic } from './usage.ts'
export { ANTHROPIC_IMAGE_TYPES } from './images.ts'
export type { FieldRule, FieldRules } from './fields.ts'
export type * from './anthropic-types.ts'
export type * from './openai-types.ts'
