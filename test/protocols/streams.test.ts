import { once } from 'node:events'
import { PassThrough, Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { describe, expect, it } from 'vitest'
import { AnthropicToOpenaiStream, convertSseStream, OpenaiToAnthropicStream, type SseConverter } from '../../src/protocols/index.ts'
import { anthropicSse, openaiSse, parseSse } from './helpers.ts'

const now = (): number => 1700000000

/** Feeds `input` whole, then ends the stream; the downstream text. */
function run(converter: SseConverter, input: string): string {
  return converter.push(input) + converter.end()
}

// What Anthropic streams for a text answer that calls a tool (documented shape; ids shortened).
const ANTHROPIC_TOOL_STREAM = [
  {
    type: 'message_start',
    message: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-x',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 25, output_tokens: 1, cache_read_input_tokens: 5 },
    },
  },
  { type: 'ping' },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me check' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' ✓.' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": "Pa' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 'ris"}' } },
  { type: 'content_block_stop', index: 1 },
  { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 30 } },
  { type: 'message_stop' },
]

const chunk = (delta: unknown, finish: string | null = null): unknown => ({
  id: 'msg_1',
  object: 'chat.completion.chunk',
  created: 1700000000,
  model: 'claude-x',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
})

describe('converting an Anthropic stream to OpenAI chunks', () => {
  it('streams text, then the tool call with its arguments in pieces, then finish_reason, usage and [DONE]', () => {
    const out = parseSse(run(new AnthropicToOpenaiStream({ includeUsage: true, now }), anthropicSse(ANTHROPIC_TOOL_STREAM)))
    expect(out.map((e) => e.data)).toEqual([
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Let me check' }),
      chunk({ content: ' ✓.' }),
      chunk({ tool_calls: [{ index: 0, id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city": "Pa' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'ris"}' } }] }),
      chunk({}, 'tool_calls'),
      {
        id: 'msg_1',
        object: 'chat.completion.chunk',
        created: 1700000000,
        model: 'claude-x',
        choices: [],
        usage: { prompt_tokens: 30, completion_tokens: 30, total_tokens: 60, prompt_tokens_details: { cached_tokens: 5 } },
      },
      '[DONE]',
    ])
    expect(out.every((e) => e.event === '')).toBe(true)
  })

  it('leaves the usage chunk out unless asked; counts tool calls, not blocks; thinking is reasoning_content', () => {
    const events = [
      ANTHROPIC_TOOL_STREAM[0],
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_2', name: 'now', input: {} } },
      { type: 'content_block_stop', index: 1 },
      { type: 'some_future_event', anything: true },
      { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 3 } },
      { type: 'message_stop' },
    ] as { type: string }[]
    const out = parseSse(run(new AnthropicToOpenaiStream({ now }), anthropicSse(events)))
    expect(out.map((e) => e.data)).toEqual([
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'hmm' }),
      chunk({ tool_calls: [{ index: 0, id: 'toolu_2', type: 'function', function: { name: 'now', arguments: '' } }] }),
      chunk({}, 'stop'),
      '[DONE]',
    ])
  })

  it.each([
    [
      'an upstream error event',
      anthropicSse([ANTHROPIC_TOOL_STREAM[0]!, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } as { type: string }]),
      'overloaded_error: Overloaded',
    ],
    ['a stream cut before message_stop', anthropicSse(ANTHROPIC_TOOL_STREAM.slice(0, 5)), 'before message_stop'],
    ['an event that is not JSON', anthropicSse([ANTHROPIC_TOOL_STREAM[0]!]) + 'event: content_block_delta\ndata: {oops\n\n', 'not JSON'],
    ['a delta before message_start', anthropicSse(ANTHROPIC_TOOL_STREAM.slice(2, 4)), 'before message_start'],
  ])('ends with an OpenAI error event on %s', (_what, input, message) => {
    const out = parseSse(run(new AnthropicToOpenaiStream({ now }), input))
    const last = out.at(-1)?.data as { error: { message: string; code: string } }
    expect(last.error.code).toBe('upstream_error')
    expect(last.error.message).toContain(message)
    expect(out.some((e) => e.data === '[DONE]')).toBe(false)
  })

  it('ignores whatever follows the end of the message', () => {
    const converter = new AnthropicToOpenaiStream({ now })
    converter.push(anthropicSse(ANTHROPIC_TOOL_STREAM))
    expect(converter.finished).toBe(true)
    expect(converter.push('event: ping\ndata: {"type":"ping"}\n\n') + converter.end()).toBe('')
  })

  it('turns an event over the size cap into an error event instead of buffering it', () => {
    const converter = new AnthropicToOpenaiStream({ now, maxEventBytes: 1024 })
    const start = converter.push(anthropicSse([ANTHROPIC_TOOL_STREAM[0]!]))
    expect(parseSse(start)).toHaveLength(1)
    const out = converter.push(`event: content_block_delta\ndata: ${'x'.repeat(2000)}`)
    expect((parseSse(out)[0]?.data as { error: { message: string } }).error.message).toContain('larger than 1024 bytes')
    expect(converter.finished).toBe(true)
  })

  it('reads CRLF framing like LF framing', () => {
    const lf = anthropicSse(ANTHROPIC_TOOL_STREAM)
    expect(run(new AnthropicToOpenaiStream({ now }), lf.replaceAll('\n', '\r\n'))).toBe(run(new AnthropicToOpenaiStream({ now }), lf))
  })
})

const openaiChunk = (delta: unknown, finish: string | null = null): unknown => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-x',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
})
const OPENAI_TOOL_STREAM = [
  openaiChunk({ role: 'assistant', content: '' }),
  openaiChunk({ content: 'Let me' }),
  openaiChunk({ content: ' check ✓.' }),
  openaiChunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
  openaiChunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  openaiChunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  openaiChunk({ tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'now', arguments: '{}' } }] }),
  openaiChunk({}, 'tool_calls'),
  {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-x',
    choices: [],
    usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 },
  },
]
const ev = (type: string, rest: Record<string, unknown> = {}): { event: string; data: unknown } => ({ event: type, data: { type, ...rest } })
const MESSAGE_START = ev('message_start', {
  message: {
    id: 'chatcmpl-1',
    type: 'message',
    role: 'assistant',
    model: 'gpt-x',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: null, cache_read_input_tokens: null },
  },
})

describe('converting OpenAI chunks to an Anthropic stream', () => {
  it('opens a block per kind of content, streams tool arguments as input_json_delta, and ends with stop_reason and usage', () => {
    expect(parseSse(run(new OpenaiToAnthropicStream(), openaiSse(OPENAI_TOOL_STREAM)))).toEqual([
      MESSAGE_START,
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Let me' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' check ✓.' } }),
      ev('content_block_stop', { index: 0 }),
      ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'call_1', name: 'get_weather', input: {} } }),
      ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } }),
      ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } }),
      ev('content_block_stop', { index: 1 }),
      ev('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'call_2', name: 'now', input: {} } }),
      ev('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{}' } }),
      ev('content_block_stop', { index: 2 }),
      ev('message_delta', {
        delta: { stop_reason: 'tool_use', stop_sequence: null },
        usage: { input_tokens: 20, output_tokens: 9, cache_creation_input_tokens: null, cache_read_input_tokens: null },
      }),
      ev('message_stop'),
    ])
  })

  it('makes reasoning_content a thinking block, waits for a tool name that comes late, and finishes without [DONE]', () => {
    const chunks = [
      openaiChunk({ role: 'assistant', reasoning_content: 'hmm' }),
      openaiChunk({ tool_calls: [{ index: 0, id: 'call_9', function: { arguments: '{"a"' } }] }),
      openaiChunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: ':1}' } }] }),
      { ...(openaiChunk({}, 'stop') as object), choices: [{ index: 0, delta: {}, finish_reason: 'stop', stop_reason: 'END' }] },
    ]
    const out = parseSse(run(new OpenaiToAnthropicStream(), openaiSse(chunks, false)))
    expect(out.slice(1)).toEqual([
      ev('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }),
      ev('content_block_stop', { index: 0 }),
      ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'call_9', name: 'f', input: {} } }),
      ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":1}' } }),
      ev('content_block_stop', { index: 1 }),
      ev('message_delta', {
        delta: { stop_reason: 'stop_sequence', stop_sequence: 'END' },
        usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: null, cache_read_input_tokens: null },
      }),
      ev('message_stop'),
    ])
  })

  it.each([
    [
      'an upstream error chunk',
      openaiSse([OPENAI_TOOL_STREAM[0], { error: { message: 'rate limited', type: 'rate_limit' } }], false),
      'rate_limit: rate limited',
    ],
    ['a stream cut before finish_reason', openaiSse(OPENAI_TOOL_STREAM.slice(0, 3), false), 'before a finish_reason'],
    ['[DONE] before finish_reason', openaiSse(OPENAI_TOOL_STREAM.slice(0, 3)), 'before a finish_reason'],
    ['a second choice', openaiSse([{ ...(OPENAI_TOOL_STREAM[0] as object), choices: [{ index: 1, delta: {} }] }]), 'second choice'],
    [
      'arguments for a closed tool call',
      openaiSse([
        OPENAI_TOOL_STREAM[3],
        openaiChunk({ content: 'x' }),
        openaiChunk({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] }),
        openaiChunk({}, 'tool_calls'),
      ]),
      'after its block closed',
    ],
  ])('ends with an Anthropic error event on %s', (_what, input, message) => {
    const out = parseSse(run(new OpenaiToAnthropicStream(), input))
    const last = out.at(-1)
    expect(last?.event).toBe('error')
    expect(last?.data).toEqual({ type: 'error', error: { type: 'api_error', message: expect.stringContaining(message) as string } })
    expect(out.some((e) => e.event === 'message_stop')).toBe(false)
  })

  it('reads CRLF framing like LF framing', () => {
    const lf = openaiSse(OPENAI_TOOL_STREAM)
    expect(run(new OpenaiToAnthropicStream(), lf.replaceAll('\n', '\r\n'))).toBe(run(new OpenaiToAnthropicStream(), lf))
  })
})

describe('converting a body stream', () => {
  it('ends the output at the last event and destroys the source, which may still be open', async () => {
    const source = new PassThrough()
    const out = convertSseStream(source, new OpenaiToAnthropicStream())
    source.write(openaiSse(OPENAI_TOOL_STREAM))
    const events = parseSse(await text(out))
    expect(events.at(-1)?.event).toBe('message_stop')
    expect(source.destroyed).toBe(true)
  })

  it('ends with an error event when the source ends early, and fails when the source fails', async () => {
    const short = parseSse(
      await text(convertSseStream(Readable.from([Buffer.from(openaiSse(OPENAI_TOOL_STREAM.slice(0, 2), false))]), new OpenaiToAnthropicStream())),
    )
    expect(short.at(-1)?.event).toBe('error')
    const failing = new PassThrough()
    const out = convertSseStream(failing, new AnthropicToOpenaiStream())
    const done = text(out)
    failing.destroy(new Error('socket reset'))
    await expect(done).rejects.toThrow('socket reset')
  })

  it('destroys the source when the client goes away', async () => {
    const source = new PassThrough()
    const out = convertSseStream(source, new OpenaiToAnthropicStream())
    source.write(openaiSse(OPENAI_TOOL_STREAM.slice(0, 2), false))
    await once(out, 'readable')
    out.destroy()
    await once(source, 'close')
    expect(source.destroyed).toBe(true)
  })
})
