import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { describe, expect, it } from 'vitest'
import { completeResponses, completeResponsesStream } from '../../src/protocols/index.ts'

/** What this llama-server build streams for /v1/responses (ids shortened, timings dropped). */
const LLAMA_EVENTS = [
  ['response.created', { type: 'response.created', response: { id: 'resp_1', object: 'response', status: 'in_progress' } }],
  ['response.in_progress', { type: 'response.in_progress', response: { id: 'resp_1', object: 'response', status: 'in_progress' } }],
  [
    'response.output_item.added',
    { type: 'response.output_item.added', item: { content: [], id: 'msg_1', role: 'assistant', status: 'in_progress', type: 'message' } },
  ],
  ['response.content_part.added', { type: 'response.content_part.added', item_id: 'msg_1', part: { type: 'output_text', text: '' } }],
  ['response.output_text.delta', { type: 'response.output_text.delta', item_id: 'msg_1', delta: 'H\u00e9' }],
  ['response.output_text.done', { type: 'response.output_text.done', item_id: 'msg_1', text: 'H\u00e9' }],
  [
    'response.output_item.done',
    { type: 'response.output_item.done', item: { type: 'message', status: 'completed', id: 'msg_1', content: [], role: 'assistant' } },
  ],
  [
    'response.output_item.done',
    { type: 'response.output_item.done', item: { id: 'fc_1', type: 'function_call', status: 'completed', arguments: '{}', call_id: 'call_1', name: 'f' } },
  ],
  [
    'response.completed',
    { type: 'response.completed', response: { id: 'resp_1', object: 'response', created_at: 5, status: 'completed', model: 'fim.gguf', output: [] } },
  ],
] as const

const sse = (events: readonly (readonly [string, unknown])[]): string =>
  events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join('')

async function run(input: string, chunkBytes = 0): Promise<string> {
  const bytes = Buffer.from(input)
  const chunks =
    chunkBytes === 0 ? [bytes] : Array.from({ length: Math.ceil(bytes.length / chunkBytes) }, (_, i) => bytes.subarray(i * chunkBytes, (i + 1) * chunkBytes))
  return text(Readable.from(chunks).pipe(completeResponsesStream({ model: 'tiny:default', now: () => 1234 })))
}

function parse(body: string): { name: string; data: Record<string, unknown> }[] {
  return body
    .split('\n\n')
    .filter(Boolean)
    .map((e) => {
      const [name = '', data = ''] = e.split('\n')
      return { name: name.slice('event: '.length), data: JSON.parse(data.slice('data: '.length)) as Record<string, unknown> }
    })
}

describe("completing llama-server's Responses stream", () => {
  it('adds created_at, model, output_index, content_index and sequence_number where they are missing', async () => {
    const events = parse(await run(sse(LLAMA_EVENTS)))
    expect(events.map((e) => e.name)).toEqual(LLAMA_EVENTS.map(([name]) => name))
    expect(events.map((e) => e.data['sequence_number'])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    expect(events[0]?.data['response']).toEqual({ id: 'resp_1', object: 'response', status: 'in_progress', created_at: 1234, model: 'tiny:default' })
    expect(events.slice(2, 8).map((e) => [e.data['output_index'], e.data['content_index']])).toEqual([
      [0, undefined],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, undefined],
      [1, undefined],
    ])
    // What llama-server did send stays as it was.
    expect(events[4]?.data['delta']).toBe('H\u00e9')
    expect(events[8]?.data['response']).toMatchObject({ created_at: 5, model: 'fim.gguf' })
  })

  it('gives the same answer however the bytes are chunked', async () => {
    const whole = await run(sse(LLAMA_EVENTS))
    for (const size of [1, 3, 7, 64]) expect(await run(sse(LLAMA_EVENTS), size), `chunks of ${size}`).toBe(whole)
  })

  it('passes complete events, non-Responses events and unparseable data byte for byte', async () => {
    const complete = 'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"r","created_at":1,"model":"m"}}\n\n'
    const herdError = 'data: {"error":{"message":"gone","type":"server_error","param":null,"code":"upstream_error"}}\n\n'
    const odd = 'event: x\ndata: not json\n\n: comment\n\n'
    expect(await run(complete + herdError + odd, 5)).toBe(complete + herdError + odd)
  })

  it('passes a CRLF-framed stream through untouched rather than holding it back', async () => {
    const crlf = sse(LLAMA_EVENTS).replaceAll('\n', '\r\n')
    expect(await run(crlf, 10)).toBe(crlf)
  })

  it('leaves a response that is not an event stream alone, and reports a broken source as an error', async () => {
    const plain = { status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from('{}')]), servedBy: 'a' }
    expect(completeResponses(plain, { model: 'm' })).toBe(plain)
    const source = new Readable({ read() {} })
    const res = completeResponses({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: source, servedBy: 'a', guarded: true }, { model: 'm' })
    expect(res.guarded).toBe(false)
    source.push(sse(LLAMA_EVENTS.slice(0, 1)))
    source.destroy(new Error('peer went away'))
    await expect(text(res.body)).rejects.toThrow('peer went away')
  })

  it('stops the source when the client goes away', async () => {
    const source = new Readable({ read() {} })
    const res = completeResponses({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: source, servedBy: 'a' }, { model: 'm' })
    res.body.destroy()
    await new Promise((resolve) => source.once('close', resolve))
    expect(source.destroyed).toBe(true)
  })
})
