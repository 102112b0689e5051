import { describe, expect, it } from 'vitest'
import {
  anthropicErrorToOpenai,
  anthropicMessageToOpenaiCompletion,
  openaiCompletionToAnthropicMessage,
  openaiErrorToAnthropic,
} from '../../src/protocols/index.ts'
import { thrown } from './helpers.ts'

const now = (): number => 1700000000
const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: null, cache_read_input_tokens: null }
const message = (content: unknown[], stop_reason: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5',
  content,
  stop_reason,
  stop_sequence: null,
  usage,
  ...extra,
})
const completion = (msg: Record<string, unknown>, finish_reason: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'qwen2.5-72b',
  choices: [{ index: 0, message: { role: 'assistant', refusal: null, ...msg }, logprobs: null, finish_reason, ...extra }],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
})
const openaiUsage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }

/** [what, Anthropic answer, OpenAI answer's choice (message and finish_reason), OpenAI usage]. */
const TO_OPENAI: [string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>][] = [
  ['text; end_turn is stop', message([{ type: 'text', text: 'Hello' }], 'end_turn'), { message: { content: 'Hello' }, finish_reason: 'stop' }, openaiUsage],
  [
    'stop_sequence is stop',
    message([{ type: 'text', text: 'a' }], 'stop_sequence', { stop_sequence: 'END' }),
    { message: { content: 'a' }, finish_reason: 'stop' },
    openaiUsage,
  ],
  ['max_tokens is length', message([{ type: 'text', text: 'a' }], 'max_tokens'), { message: { content: 'a' }, finish_reason: 'length' }, openaiUsage],
  ['refusal is content_filter', message([], 'refusal'), { message: { content: null }, finish_reason: 'content_filter' }, openaiUsage],
  [
    'tool_use blocks are tool_calls; thinking is reasoning_content; redacted thinking is dropped',
    message(
      [
        { type: 'thinking', thinking: 'Paris, so…', signature: 's' },
        { type: 'redacted_thinking', data: 'xx' },
        { type: 'text', text: 'Checking. ' },
        { type: 'text', text: 'One moment.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
      ],
      'tool_use',
    ),
    {
      message: {
        content: 'Checking. One moment.',
        reasoning_content: 'Paris, so…',
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      finish_reason: 'tool_calls',
    },
    openaiUsage,
  ],
  [
    'cache reads and writes count in prompt_tokens, and are named',
    message([{ type: 'text', text: 'a' }], 'end_turn', {
      usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 },
    }),
    { message: { content: 'a' }, finish_reason: 'stop' },
    { prompt_tokens: 130, completion_tokens: 5, total_tokens: 135, prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 20 } },
  ],
]

/** [what, OpenAI answer, Anthropic answer's content, stop_reason, stop_sequence, usage]. */
const TO_ANTHROPIC: [string, Record<string, unknown>, unknown[], string, string | null, Record<string, unknown>][] = [
  ['text; stop is end_turn', completion({ content: 'Hello' }, 'stop'), [{ type: 'text', text: 'Hello' }], 'end_turn', null, usage],
  ['length is max_tokens', completion({ content: 'a' }, 'length'), [{ type: 'text', text: 'a' }], 'max_tokens', null, usage],
  [
    "vLLM's matched stop string is a stop_sequence",
    completion({ content: 'a' }, 'stop', { stop_reason: 'END' }),
    [{ type: 'text', text: 'a' }],
    'stop_sequence',
    'END',
    usage,
  ],
  ['content_filter is refusal', completion({ content: null }, 'content_filter'), [], 'refusal', null, usage],
  [
    'a refusal is text with stop_reason refusal',
    completion({ content: null, refusal: 'I cannot help.' }, 'stop'),
    [{ type: 'text', text: 'I cannot help.' }],
    'refusal',
    null,
    usage,
  ],
  [
    'tool_calls are tool_use blocks after the text; reasoning_content is thinking first',
    completion(
      {
        content: 'Checking.',
        reasoning_content: 'hmm',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'now', arguments: '' } },
        ],
      },
      'tool_calls',
    ),
    [
      { type: 'thinking', thinking: 'hmm', signature: '' },
      { type: 'text', text: 'Checking.' },
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_2', name: 'now', input: {} },
    ],
    'tool_use',
    null,
    usage,
  ],
  [
    'cached tokens leave input_tokens',
    {
      ...completion({ content: 'a' }, 'stop'),
      usage: { prompt_tokens: 130, completion_tokens: 5, total_tokens: 135, prompt_tokens_details: { cached_tokens: 100 } },
    },
    [{ type: 'text', text: 'a' }],
    'end_turn',
    null,
    { input_tokens: 30, output_tokens: 5, cache_creation_input_tokens: null, cache_read_input_tokens: 100 },
  ],
]

describe('converting non-streaming answers', () => {
  it.each(TO_OPENAI)('Anthropic to OpenAI: %s', (_what, answer, choice, expectedUsage) => {
    const { message: msg, finish_reason } = choice as { message: Record<string, unknown>; finish_reason: string }
    expect(anthropicMessageToOpenaiCompletion(answer, { now })).toEqual({
      id: 'msg_01',
      object: 'chat.completion',
      created: 1700000000,
      model: 'claude-sonnet-4-5',
      choices: [{ index: 0, message: { role: 'assistant', refusal: null, ...msg }, logprobs: null, finish_reason }],
      usage: expectedUsage,
    })
  })

  it.each(TO_ANTHROPIC)('OpenAI to Anthropic: %s', (_what, answer, content, stop_reason, stop_sequence, expectedUsage) => {
    expect(openaiCompletionToAnthropicMessage(answer)).toEqual({
      id: 'chatcmpl-1',
      type: 'message',
      role: 'assistant',
      model: 'qwen2.5-72b',
      content,
      stop_reason,
      stop_sequence,
      usage: expectedUsage,
    })
  })

  it.each([
    ['not an object', 'nope'],
    ['no choices', { id: 'x', model: 'm', choices: [] }],
    ['two choices', { id: 'x', model: 'm', choices: [{ message: {} }, { message: {} }] }],
    [
      'tool arguments that are not JSON',
      completion({ tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":' } }] }, 'tool_calls'),
    ],
  ])('an OpenAI answer it cannot convert (%s) is upstream_error', (_what, answer) => {
    expect(thrown(() => openaiCompletionToAnthropicMessage(answer)).code).toBe('upstream_error')
  })

  it.each([
    ['not a message', { type: 'error', error: { type: 'x', message: 'y' } }],
    ['a server tool block', message([{ type: 'server_tool_use', id: 's', name: 'web_search', input: {} }], 'end_turn')],
  ])('an Anthropic answer it cannot convert (%s) is upstream_error', (_what, answer) => {
    expect(thrown(() => anthropicMessageToOpenaiCompletion(answer)).code).toBe('upstream_error')
  })
})

describe('converting error bodies', () => {
  it("keeps an Anthropic error's type and message in OpenAI's envelope", () => {
    expect(anthropicErrorToOpenai(400, { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: too large' } })).toEqual({
      error: { message: 'max_tokens: too large', type: 'invalid_request_error', param: null, code: 'invalid_request_error' },
    })
  })

  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [404, 'not_found_error'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [503, 'overloaded_error'],
  ])('gives an OpenAI error with status %i the Anthropic type %s', (status, type) => {
    expect(openaiErrorToAnthropic(status, { error: { message: 'no', type: 'whatever', code: null } })).toEqual({
      type: 'error',
      error: { type, message: 'no' },
    })
  })

  it("reads vLLM's flat error body and plain text", () => {
    expect(openaiErrorToAnthropic(400, { object: 'error', message: 'bad', type: 'BadRequestError', code: 400 }).error.message).toBe('bad')
    expect(openaiErrorToAnthropic(502, 'Bad Gateway').error).toEqual({ type: 'api_error', message: 'Bad Gateway' })
  })
})
