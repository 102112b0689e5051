/**
 * The official clients against a backend of the other protocol, with herd's converters in
 * between: a few-line proxy per direction (not herd's daemon: that wiring is src/backends'
 * and src/api's) turns the client's request into the backend's, and the answer (JSON, SSE
 * or error) back. Passing means the SDK parsed everything the converters wrote.
 */
import { once } from 'node:events'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isHerdError } from '../../src/errors/index.ts'
import {
  anthropicErrorToOpenai,
  anthropicMessageToOpenaiCompletion,
  AnthropicToOpenaiStream,
  anthropicToOpenaiChat,
  convertSseStream,
  includeUsage,
  openaiChatToAnthropic,
  openaiCompletionToAnthropicMessage,
  openaiErrorToAnthropic,
  OpenaiToAnthropicStream,
  type SseConverter,
} from '../../src/protocols/index.ts'
import { fakeAnthropic, fakeOpenai, type FakeBackend } from './fake-backends.ts'

interface Direction {
  /** The client's path. */
  path: string
  upstreamPath: string
  headers: Record<string, string>
  request(body: unknown): unknown
  answer(body: unknown): unknown
  error(status: number, body: unknown): unknown
  stream(body: unknown): SseConverter
  /** The body for a refusal of the client's request. */
  refusal(err: unknown): unknown
}

function post(url: string, headers: Record<string, string>, body: unknown): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, resolve)
    req.once('error', reject)
    req.end(JSON.stringify(body))
  })
}

async function readJson(res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
}

/** The test proxy: convert, forward, convert back. */
function proxy(backend: FakeBackend, way: Direction): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res: ServerResponse) => {
    void (async () => {
      const body = await readJson(req)
      let upstreamBody: unknown
      try {
        upstreamBody = way.request(body)
      } catch (err: unknown) {
        if (!isHerdError(err)) throw err
        return res.writeHead(err.status, { 'content-type': 'application/json' }).end(JSON.stringify(way.refusal(err)))
      }
      const upstream = await post(`${backend.url}${way.upstreamPath}`, way.headers, upstreamBody)
      const status = upstream.statusCode ?? 502
      if (status !== 200) return res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(way.error(status, await readJson(upstream))))
      if (!(upstream.headers['content-type'] ?? '').includes('text/event-stream')) {
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(way.answer(await readJson(upstream))))
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      convertSseStream(upstream, way.stream(body)).pipe(res)
    })()
  })
  server.listen(0, '127.0.0.1')
  return once(server, 'listening').then(() => ({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }))
}

const weatherTool = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
}
const anthropicTool = {
  name: 'get_weather',
  description: 'Current weather',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } },
}
const closing: (() => Promise<void>)[] = []
let openai: OpenAI
let anthropic: Anthropic
let anthropicBackend: FakeBackend
let openaiBackend: FakeBackend

beforeAll(async () => {
  anthropicBackend = await fakeAnthropic('node-anthropic-key')
  openaiBackend = await fakeOpenai('node-openai-key')
  closing.push(anthropicBackend.close, openaiBackend.close)
  const toAnthropic = await proxy(anthropicBackend, {
    path: '/v1/chat/completions',
    upstreamPath: '/v1/messages',
    headers: { 'x-api-key': 'node-anthropic-key', 'anthropic-version': '2023-06-01' },
    request: (body) => openaiChatToAnthropic(body),
    answer: (body) => anthropicMessageToOpenaiCompletion(body),
    error: (status, body) => anthropicErrorToOpenai(status, body),
    stream: (body) => new AnthropicToOpenaiStream({ includeUsage: includeUsage(body) }),
    refusal: (err) => (isHerdError(err) ? err.toEnvelope() : {}),
  })
  const toOpenai = await proxy(openaiBackend, {
    path: '/v1/messages',
    upstreamPath: '/v1/chat/completions',
    headers: { authorization: 'Bearer node-openai-key' },
    request: (body) => anthropicToOpenaiChat(body),
    answer: (body) => openaiCompletionToAnthropicMessage(body),
    error: (status, body) => openaiErrorToAnthropic(status, body),
    stream: () => new OpenaiToAnthropicStream(),
    refusal: (err) => (isHerdError(err) ? err.toAnthropicEnvelope() : {}),
  })
  for (const { server } of [toAnthropic, toOpenai]) closing.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  openai = new OpenAI({ baseURL: `${toAnthropic.url}/v1`, apiKey: 'client-key', maxRetries: 0 })
  anthropic = new Anthropic({ baseURL: toOpenai.url, apiKey: 'client-key', maxRetries: 0 })
})

afterAll(async () => {
  for (const close of closing.reverse()) await close()
})

describe('the openai SDK in front of an Anthropic backend', () => {
  it('gets a tool call, then an answer to its result, with usage, from chat.completions.create', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You report the weather.' },
      { role: 'user', content: 'Weather in Paris?' },
    ]
    const first = await openai.chat.completions.create({ model: 'claude-fake-1', messages, tools: [weatherTool] })
    const choice = first.choices[0]
    expect(first.id).toBe('msg_01')
    expect(first.model).toBe('claude-fake-1')
    expect(choice?.finish_reason).toBe('tool_calls')
    expect(choice?.message.content).toBe('Let me look that up.')
    const call = choice?.message.tool_calls?.[0]
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Paris', unit: 'celsius' })
    expect(first.usage).toMatchObject({ prompt_tokens: 25, completion_tokens: 12, total_tokens: 37, prompt_tokens_details: { cached_tokens: 4 } })
    expect(anthropicBackend.received.at(-1)).toMatchObject({ system: 'You report the weather.', max_tokens: 4096, tools: [anthropicTool] })

    messages.push(choice!.message, { role: 'tool', tool_call_id: call!.id, content: '18C' })
    const second = await openai.chat.completions.create({ model: 'claude-fake-1', messages, tools: [weatherTool] })
    expect(second.choices[0]?.message.content).toBe('It is 18°C in Paris.')
    expect(second.choices[0]?.finish_reason).toBe('stop')
    expect(anthropicBackend.received.at(-1)?.['messages']).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me look that up.' },
          { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '18C' }] },
    ])
  })

  it('streams text and a tool call whose arguments arrive in pieces, and the usage chunk', async () => {
    const stream = openai.chat.completions.stream({
      model: 'claude-fake-1',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weatherTool],
      stream_options: { include_usage: true },
    })
    const pieces: string[] = []
    stream.on('tool_calls.function.arguments.delta', (e) => pieces.push(e.arguments_delta))
    const final = await stream.finalChatCompletion()
    expect(pieces.length).toBeGreaterThan(2)
    const choice = final.choices[0]
    expect(choice?.message.content).toBe('Let me look that up.')
    expect(choice?.finish_reason).toBe('tool_calls')
    const call = choice?.message.tool_calls?.[0]
    expect(call).toMatchObject({ id: 'toolu_02', type: 'function', function: { name: 'get_weather' } })
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: 'Paris', unit: 'celsius' })
    expect(final.usage).toMatchObject({ prompt_tokens: 25, completion_tokens: 12 })
  })

  it('sees an error event in the middle of the stream as an APIError', async () => {
    const stream = await openai.chat.completions.create({ model: 'fail', messages: [{ role: 'user', content: 'hi' }], stream: true })
    const text: string[] = []
    await expect(
      (async () => {
        for await (const chunk of stream) text.push(chunk.choices[0]?.delta.content ?? '')
      })(),
    ).rejects.toThrow(/Overloaded/)
    expect(text.join('')).toBe('Let me look that up.')
  })

  it("gets the backend's 400 and herd's refusals as BadRequestError naming the field", async () => {
    await expect(openai.chat.completions.create({ model: 'fail', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('model fail does not exist') as string,
    })
    await expect(openai.chat.completions.create({ model: 'claude-fake-1', n: 2, messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({
      status: 400,
      param: 'n',
      code: 'invalid_request',
    })
  })
})

describe('the Anthropic SDK in front of an OpenAI backend', () => {
  it('gets tool_use, then an answer to its tool_result, with usage, from messages.create', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }]
    const first = await anthropic.messages.create({ model: 'gpt-fake-1', max_tokens: 200, system: 'You report the weather.', messages, tools: [anthropicTool] })
    expect(first.id).toBe('chatcmpl-01')
    expect(first.model).toBe('gpt-fake-1')
    expect(first.stop_reason).toBe('tool_use')
    expect(first.content).toEqual([
      { type: 'text', text: 'Let me look that up.' },
      { type: 'tool_use', id: 'call_01', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
    ])
    expect(first.usage).toMatchObject({ input_tokens: 20, output_tokens: 12, cache_read_input_tokens: 10 })
    expect(openaiBackend.received.at(-1)).toMatchObject({ max_tokens: 200, messages: [{ role: 'system', content: 'You report the weather.' }, messages[0]] })

    messages.push({ role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_01', content: '18C' }] })
    const second = await anthropic.messages.create({ model: 'gpt-fake-1', max_tokens: 200, messages, tools: [anthropicTool] })
    expect(second.content).toEqual([{ type: 'text', text: 'It is 18°C in Paris.' }])
    expect(second.stop_reason).toBe('end_turn')
    expect(openaiBackend.received.at(-1)?.['messages']).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: 'Let me look that up.',
        tool_calls: [{ id: 'call_01', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_01', content: '18C' },
    ])
  })

  it('streams text and tool_use whose input arrives in pieces, with stop_reason and usage', async () => {
    const stream = anthropic.messages.stream({
      model: 'gpt-fake-1',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [anthropicTool],
    })
    const pieces: string[] = []
    stream.on('inputJson', (partial) => pieces.push(partial))
    const final = await stream.finalMessage()
    expect(pieces.length).toBeGreaterThan(2)
    expect(final.content).toEqual([
      { type: 'text', text: 'Let me look that up.' },
      { type: 'tool_use', id: 'call_02', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
    ])
    expect(final.stop_reason).toBe('tool_use')
    expect(final.usage).toMatchObject({ input_tokens: 20, output_tokens: 12, cache_read_input_tokens: 10 })
    expect(openaiBackend.received.at(-1)).toMatchObject({ stream: true, stream_options: { include_usage: true } })
  })

  it('sees an error in the middle of the stream as an error', async () => {
    const stream = anthropic.messages.stream({ model: 'fail', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
    await expect(stream.finalMessage()).rejects.toThrow(/upstream exploded/)
  })

  it("gets the backend's 400 and herd's refusals as BadRequestError", async () => {
    await expect(anthropic.messages.create({ model: 'fail', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('does not exist') as string,
    })
    const thinking = { type: 'enabled' as const, budget_tokens: 2000 }
    await expect(
      anthropic.messages.create({ model: 'gpt-fake-1', max_tokens: 5000, thinking, messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toMatchObject({
      status: 400,
      error: { type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining("'thinking'") as string } },
    })
  })
})
