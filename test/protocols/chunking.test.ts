import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AnthropicToOpenaiStream, OpenaiToAnthropicStream, SseDecoder, type SseConverter } from '../../src/protocols/index.ts'
import { anthropicSse, openaiSse } from './helpers.ts'

/** `bytes` cut at the given offsets (any order, duplicates allowed: empty chunks too). */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...offsets.map((o) => o % (bytes.length + 1)), bytes.length].sort((a, b) => a - b)
  let start = 0
  return points.map((end) => {
    const piece = bytes.subarray(start, end)
    start = end
    return piece
  })
}

function feed(converter: SseConverter, chunks: Buffer[]): string {
  return chunks.map((c) => converter.push(c)).join('') + converter.end()
}

// Multi-byte text on purpose: a cut may fall inside a character.
const TEXT = ['Grüße', ' — ', '🐑🐑', ' naïve ✓', '\u00e9t\u00e9']
const anthropicStream = anthropicSse([
  {
    type: 'message_start',
    message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'c', content: [], usage: { input_tokens: 3, output_tokens: 1 } },
  },
  { type: 'ping' },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  ...TEXT.map((text) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })),
  { type: 'content_block_stop', index: 0 },
  { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 't1', name: 'f', input: {} } },
  ...['{"q": "sh', 'éép', ' 🐑"}'].map((partial_json) => ({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json } })),
  { type: 'content_block_stop', index: 1 },
  { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } },
  { type: 'message_stop' },
] as { type: string }[])
const openaiStream = openaiSse([
  { id: 'c1', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
  ...TEXT.map((content) => ({ id: 'c1', model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })),
  {
    id: 'c1',
    model: 'm',
    choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] } }],
  },
  ...['{"q": "sh', 'éép', ' 🐑"}'].map((args) => ({
    id: 'c1',
    model: 'm',
    choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: args } }] } }],
  })),
  { id: 'c1', model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
  { id: 'c1', model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12 } },
])

const CONVERTERS: [string, () => SseConverter, string][] = [
  ['Anthropic to OpenAI', () => new AnthropicToOpenaiStream({ includeUsage: true, now: () => 1 }), anthropicStream],
  ['OpenAI to Anthropic', () => new OpenaiToAnthropicStream(), openaiStream],
]
const offsets = fc.array(fc.nat(), { maxLength: 40 })

describe('stream conversion under any chunking', () => {
  it.each(CONVERTERS)('%s gives the same output for every way of cutting the upstream bytes, LF or CRLF', (_what, make, stream) => {
    for (const framing of [stream, stream.replaceAll('\n', '\r\n'), stream.replaceAll('\n', '\r')]) {
      const bytes = Buffer.from(framing)
      const whole = feed(make(), [bytes])
      expect(whole).not.toContain('"error"')
      fc.assert(
        fc.property(offsets, (points) => feed(make(), cut(bytes, points)) === whole),
        { numRuns: 300 },
      )
    }
  })

  it.each(CONVERTERS)('%s handles the stream one byte at a time', (_what, make, stream) => {
    const bytes = Buffer.from(stream)
    expect(
      feed(
        make(),
        [...bytes].map((b) => Buffer.from([b])),
      ),
    ).toBe(feed(make(), [bytes]))
  })
})

describe('the SSE decoder', () => {
  const decode = (chunks: (string | Buffer)[]): unknown[] => {
    const decoder = new SseDecoder()
    return [...chunks.flatMap((c) => decoder.push(c)), ...decoder.end()]
  }

  it('joins data lines, reads named events, skips comments and unknown fields', () => {
    expect(decode([': keep-alive\n\nevent: a\nid: 7\ndata: one\ndata:two\nretry: 5\n\ndata: {"x":1}\n\n'])).toEqual([
      { event: 'a', data: 'one\ntwo' },
      { event: '', data: '{"x":1}' },
    ])
  })

  it('keeps a CR at the end of one chunk and the LF at the start of the next as one line end', () => {
    expect(decode(['event: a\r', '\ndata: 1\r', '\n\r\nevent: b\rdata: 2\r\r'])).toEqual([
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
    ])
  })

  it('decodes the same events however the bytes are cut', () => {
    const bytes = Buffer.from(anthropicStream.replaceAll('\n', '\r\n'))
    const whole = decode([bytes])
    expect(whole.length).toBeGreaterThan(10)
    fc.assert(
      fc.property(offsets, (points) => {
        expect(decode(cut(bytes, points))).toEqual(whole)
      }),
      { numRuns: 300 },
    )
  })

  it('dispatches a last event that the upstream did not end with a blank line', () => {
    expect(decode(['data: [DONE]'])).toEqual([{ event: '', data: '[DONE]' }])
  })

  it('throws upstream_error once an event passes the cap, even without a line end', () => {
    const decoder = new SseDecoder(100)
    expect(() => decoder.push(`data: ${'x'.repeat(200)}`)).toThrow(expect.objectContaining({ code: 'upstream_error' }) as Error)
    const lines = new SseDecoder(100)
    expect(() => lines.push(Array.from({ length: 20 }, () => 'data: xxxxxxxx\n').join(''))).toThrow(/larger than 100 bytes/)
  })

  it('counts the cap per event, not per stream', () => {
    const decoder = new SseDecoder(100)
    expect(decoder.push(Array.from({ length: 50 }, () => 'data: xxxxxxxx\n\n').join(''))).toHaveLength(50)
  })
})
