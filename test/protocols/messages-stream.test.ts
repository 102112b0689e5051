import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { completeMessagesStream } from '../../src/protocols/index.ts'

const ev = (name: string, data: Record<string, unknown>): string => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`

// What llama-server sends when its first token is an incomplete UTF-8 sequence.
const WITHOUT_START = [
  ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'hi' } }),
  ev('content_block_stop', { index: 0 }),
  ev('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 4 } }),
  ev('message_stop', {}),
].join('')

const WITH_START = ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'tiny' } }) + WITHOUT_START

async function run(input: string, cuts: number[] = []): Promise<string> {
  const bytes = Buffer.from(input)
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let at = 0
  for (const p of points) {
    chunks.push(bytes.subarray(at, p))
    at = p
  }
  chunks.push(bytes.subarray(at))
  return text(Readable.from(chunks).pipe(completeMessagesStream({ model: 'tiny:default', id: 'msg_fixed' })))
}

describe('Messages streams open with message_start', () => {
  it('puts a message_start before a stream that lacks one, and leaves the rest byte for byte', async () => {
    const out = await run(WITHOUT_START)
    expect(out.startsWith('event: message_start\ndata: ')).toBe(true)
    const first = JSON.parse(out.split('\n')[1]!.slice(6)) as { message: Record<string, unknown> }
    expect(first.message).toMatchObject({ id: 'msg_fixed', type: 'message', role: 'assistant', model: 'tiny:default', content: [] })
    expect(out.endsWith(WITHOUT_START)).toBe(true)
  })

  it('passes a stream that starts properly, an error stream and CRLF framing through unchanged', async () => {
    expect(await run(WITH_START)).toBe(WITH_START)
    const error = ev('error', { error: { type: 'overloaded_error', message: 'busy' } })
    expect(await run(error)).toBe(error)
    const crlf = WITH_START.replaceAll('\n', '\r\n')
    expect(await run(crlf)).toBe(crlf)
  })

  it('gives the same answer however the upstream bytes are cut', async () => {
    const whole = await run(WITHOUT_START)
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 8 }), async (cuts) => {
        expect(await run(WITHOUT_START, cuts)).toBe(whole)
        expect(await run(WITH_START, cuts)).toBe(WITH_START)
      }),
      { numRuns: 200 },
    )
  })
})
