/** Protocol adaptations between what llama-server speaks and what clients expect. */
export { completeResponses, completeResponsesStream, MAX_RESPONSES_EVENT_BYTES, type ResponsesStreamInit } from './responses-stream.ts'
export { completeMessages, completeMessagesStream, MAX_FIRST_EVENT_BYTES, type MessagesStreamInit } from './messages-stream.ts'
