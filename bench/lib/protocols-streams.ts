/**
 * The cost of converting a streamed answer between OpenAI and Anthropic, per upstream
 * event, measured in-process on the real converters (src/protocols). A stream is a typical
 * tool-using answer: message start, text deltas of a few tokens each, a tool call whose
 * arguments stream in pieces, the finish and the usage. Callable from any bench script.
 */
import { AnthropicToOpenaiStream, OpenaiToAnthropicStream, type SseConverter } from '../../src/protocols/index.ts'

export type Direction = 'anthropic-to-openai' | 'openai-to-anthropic'

export interface StreamBenchOptions {
  /** Content events per stream (text and tool-argument deltas); default 256. */
  events?: number
  /** How long to run, after a warm-up of a fifth of that; default 1000 ms. */
  durationMs?: number
  /** Cut the upstream bytes every this many bytes instead of one chunk per event (0: per event). */
  chunkBytes?: number
}

export interface StreamBenchResult {
  direction: Direction
  /** Upstream events per stream, framing events included. */
  eventsPerStream: number
  streams: number
  usPerEvent: number
  eventsPerSec: number
  /** Downstream bytes written per upstream byte read. */
  outputRatio: number
}

const TEXT = 'The quick brown fox ' // ~5 tokens per delta, as models stream
const ARGS = '{"path": "src/index.ts", "line": 42, "replacement": "const x = 1"}'

/** One upstream stream as chunks (one per event, or cut every chunkBytes bytes). */
export function upstreamStream(direction: Direction, events: number, chunkBytes = 0): Buffer[] {
  const textDeltas = Math.ceil(events * 0.75)
  const argDeltas = Math.max(1, events - textDeltas)
  const argPieces = Array.from({ length: argDeltas }, (_, i) =>
    ARGS.slice(Math.floor((i * ARGS.length) / argDeltas), Math.floor(((i + 1) * ARGS.length) / argDeltas)),
  )
  const list = direction === 'anthropic-to-openai' ? anthropicEvents(textDeltas, argPieces) : openaiEvents(textDeltas, argPieces)
  if (chunkBytes === 0) return list.map((e) => Buffer.from(e))
  const all = Buffer.from(list.join(''))
  return Array.from({ length: Math.ceil(all.length / chunkBytes) }, (_, i) => all.subarray(i * chunkBytes, (i + 1) * chunkBytes))
}

function anthropicEvents(textDeltas: number, argPieces: string[]): string[] {
  const named = (data: Record<string, unknown>): string => `event: ${String(data['type'])}\ndata: ${JSON.stringify(data)}\n\n`
  const message = {
    id: 'msg_bench',
    type: 'message',
    role: 'assistant',
    model: 'claude-bench',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 900, output_tokens: 1 },
  }
  return [
    named({ type: 'message_start', message }),
    named({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ...Array.from({ length: textDeltas }, () => named({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: TEXT } })),
    named({ type: 'content_block_stop', index: 0 }),
    named({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_bench', name: 'edit_file', input: {} } }),
    ...argPieces.map((partial_json) => named({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json } })),
    named({ type: 'content_block_stop', index: 1 }),
    named({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: textDeltas * 5 } }),
    named({ type: 'message_stop' }),
  ]
}

function openaiEvents(textDeltas: number, argPieces: string[]): string[] {
  const chunk = (delta: unknown, finish: string | null = null): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-bench', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`
  return [
    chunk({ role: 'assistant', content: '' }),
    ...Array.from({ length: textDeltas }, () => chunk({ content: TEXT })),
    chunk({ tool_calls: [{ index: 0, id: 'call_bench', type: 'function', function: { name: 'edit_file', arguments: '' } }] }),
    ...argPieces.map((args) => chunk({ tool_calls: [{ index: 0, function: { arguments: args } }] })),
    chunk({}, 'tool_calls'),
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-bench', choices: [], usage: { prompt_tokens: 900, completion_tokens: 500, total_tokens: 1400 } })}\n\n`,
    'data: [DONE]\n\n',
  ]
}

const converterFor = (direction: Direction): SseConverter =>
  direction === 'anthropic-to-openai' ? new AnthropicToOpenaiStream({ includeUsage: true }) : new OpenaiToAnthropicStream()

/** Converts one whole stream; returns the bytes written (and checks it ended cleanly). */
function convertOnce(direction: Direction, chunks: Buffer[]): number {
  const converter = converterFor(direction)
  let bytes = 0
  for (const chunk of chunks) bytes += converter.push(chunk).length
  bytes += converter.end().length
  if (!converter.finished) throw new Error('converter did not finish')
  return bytes
}

export function benchConvertStream(direction: Direction, options: StreamBenchOptions = {}): StreamBenchResult {
  const events = options.events ?? 256
  const durationMs = options.durationMs ?? 1000
  const chunks = upstreamStream(direction, events, options.chunkBytes ?? 0)
  const eventsPerStream = upstreamStream(direction, events).length
  const inBytes = chunks.reduce((n, c) => n + c.length, 0)
  const outBytes = convertOnce(direction, chunks)
  if (outBytes === 0) throw new Error('no output')
  for (const end = performance.now() + durationMs / 5; performance.now() < end;) convertOnce(direction, chunks)
  let streams = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < durationMs) {
    for (let i = 0; i < 10; i++) convertOnce(direction, chunks)
    streams += 10
    elapsed = performance.now() - start
  }
  const total = streams * eventsPerStream
  return { direction, eventsPerStream, streams, usPerEvent: (elapsed * 1000) / total, eventsPerSec: total / (elapsed / 1000), outputRatio: outBytes / inBytes }
}
