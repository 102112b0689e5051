/**
 * A backend serving clients of the other protocol through the converter, against the fake
 * servers on real sockets: what goes up (the converted request, the default max_tokens,
 * the model renamed), what comes back (JSON and SSE answers in the client's protocol, the
 * backend's 4xx in the client's error envelope, the model field as the backend wrote it),
 * and what cannot be converted (the client's 400 before anything goes up; the backend's
 * answer a 502) or ends early (a stalled stream fails with herd's error, for the relay).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { text } from 'node:stream/consumers'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Backends, convertProtocols } from '../../src/backends/index.ts'
import type { BackendSpec } from '../../src/config/index.ts'
import { HerdError } from '../../src/errors/index.ts'
import { DEFAULT_ANTHROPIC_MAX_TOKENS } from '../../src/protocols/index.ts'
import { FAKE_TOOL_INPUT, fakeAnthropic, fakeOpenAi, type FakeBackend } from '../fixtures/fake-backend.ts'
import { capture, routeRequest, spec } from './helpers.ts'

const KEY = 'sk-node-0123456789abcdef'
let home: string
const running: Backends[] = []
const closers: (() => Promise<void>)[] = []

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'herd-convert-'))
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((b) => b.stop()))
  await Promise.all(closers.splice(0).map((close) => close()))
})
afterAll(() => rm(home, { recursive: true, force: true }))

async function serveWith(s: BackendSpec): Promise<Backends> {
  const backends = new Backends({ logger: capture().logger, nodeName: 'node-a', convert: convertProtocols }, { home })
  backends.setConfigured([s])
  await backends.start()
  running.push(backends)
  return backends
}

async function claude(fields: Record<string, unknown> = {}): Promise<{ fake: FakeBackend; backends: Backends }> {
  const fake = await fakeAnthropic({ key: KEY })
  closers.push(() => fake.close())
  const s = await spec({ name: 'claude', protocol: 'anthropic', base_url: fake.baseUrl, api_key_env: 'K', models: ['claude-fake'], ...fields }, { K: KEY })
  return { fake, backends: await serveWith(s) }
}

async function office(fields: Record<string, unknown> = {}): Promise<{ fake: FakeBackend; backends: Backends }> {
  const fake = await fakeOpenAi({ key: KEY })
  closers.push(() => fake.close())
  return { fake, backends: await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K', ...fields }, { K: KEY })) }
}

/** An OpenAI chat request for claude/claude-fake. */
const chat = (body: Record<string, unknown>, stream = false) =>
  routeRequest({
    profileId: 'claude/claude-fake',
    stream,
    body: Buffer.from(JSON.stringify({ model: 'claude/claude-fake', ...body, ...(stream ? { stream } : {}) })),
  })

/** An Anthropic messages request for be/fake-model. */
const message = (body: Record<string, unknown>, stream = false) =>
  routeRequest({
    endpoint: 'messages',
    path: '/v1/messages',
    errorShape: 'anthropic',
    stream,
    body: Buffer.from(JSON.stringify({ model: 'be/fake-model', max_tokens: 64, ...body, ...(stream ? { stream } : {}) })),
  })

const posts = (fake: FakeBackend) => fake.requests.filter((r) => r.method === 'POST')

/** The data of each SSE event (`[DONE]` kept as the string). */
function events(sse: string): { event: string | undefined; data: unknown }[] {
  return sse
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n')
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7)
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6) ?? ''
      return { event, data: data === '[DONE]' ? data : (JSON.parse(data) as unknown) }
    })
}

const failureOf = async (p: Promise<unknown>): Promise<HerdError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof HerdError)) throw new Error(`expected a HerdError, got ${String(err)}`)
  return err
}

describe('an OpenAI client of an anthropic backend', () => {
  it('sends a Messages request (system lifted out, the default max_tokens) and answers a chat completion, the model as the backend wrote it', async () => {
    const { fake, backends } = await claude()
    const res = await backends.serve(
      chat({
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hi' },
        ],
      }),
    )
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json')
    const body = JSON.parse(await text(res.body)) as Record<string, unknown>
    expect(body).toMatchObject({
      id: 'msg_fake_1',
      object: 'chat.completion',
      model: 'claude-fake',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the fake Anthropic' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 },
    })
    const seen = posts(fake)[0]
    expect(seen?.path).toBe('/v1/messages')
    expect(seen?.headers['x-api-key']).toBe(KEY)
    expect(seen?.body).toEqual({
      model: 'claude-fake',
      max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS,
      system: 'be brief',
      messages: [{ role: 'user', content: 'hi' }],
    })
  })

  it("sends the backend's own default_max_tokens, and the client's max_tokens when it sets one", async () => {
    const { fake, backends } = await claude({ default_max_tokens: 1000 })
    await text((await backends.serve(chat({ messages: [{ role: 'user', content: 'hi' }] }))).body)
    await text((await backends.serve(chat({ max_completion_tokens: 12, messages: [{ role: 'user', content: 'hi' }] }))).body)
    expect(posts(fake).map((r) => r.body?.['max_tokens'])).toEqual([1000, 12])
  })

  it('answers a tool call, streaming and not: arguments streamed in pieces, finish_reason tool_calls, the usage chunk when asked', async () => {
    const { backends } = await claude()
    const tools = [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }]
    const whole = JSON.parse(await text((await backends.serve(chat({ tools, messages: [{ role: 'user', content: 'weather?' }] }))).body)) as {
      choices: { message: { content: string; tool_calls: { id: string; function: { name: string; arguments: string } }[] }; finish_reason: string }[]
    }
    expect(whole.choices[0]?.finish_reason).toBe('tool_calls')
    expect(whole.choices[0]?.message.content).toBe('Let me look that up.')
    expect(whole.choices[0]?.message.tool_calls[0]).toMatchObject({ id: 'toolu_fake_1', function: { name: 'weather' } })
    expect(JSON.parse(whole.choices[0]?.message.tool_calls[0]?.function.arguments ?? '')).toEqual(FAKE_TOOL_INPUT)

    const res = await backends.serve(chat({ tools, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'weather?' }] }, true))
    expect(res.headers['content-type']).toContain('text/event-stream')
    expect(res.guarded).toBe(false)
    const out = events(await text(res.body))
    type Chunk = { model: string; choices: { delta: Record<string, unknown>; finish_reason: string | null }[]; usage?: Record<string, number> }
    const chunks = out.slice(0, -1).map((e) => e.data as Chunk)
    expect(out.at(-1)?.data).toBe('[DONE]')
    expect(chunks[0]?.choices[0]?.delta).toMatchObject({ role: 'assistant' })
    expect(chunks.every((c) => c.model === 'claude-fake')).toBe(true)
    const calls = chunks.flatMap((c) => (c.choices[0]?.delta['tool_calls'] as { function: { name?: string; arguments: string } }[] | undefined) ?? [])
    expect(calls[0]?.function.name).toBe('weather')
    const pieces = calls.map((c) => c.function.arguments).filter((a) => a !== '')
    expect(pieces.length).toBeGreaterThan(1)
    expect(JSON.parse(pieces.join(''))).toEqual(FAKE_TOOL_INPUT)
    expect(chunks.find((c) => c.choices[0]?.finish_reason != null)?.choices[0]?.finish_reason).toBe('tool_calls')
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 9 } })
  })

  it("gives the backend's 4xx in OpenAI's envelope, keeping its status and message", async () => {
    const { backends } = await claude()
    const res = await backends.serve(chat({ max_tokens: 100_000, messages: [{ role: 'user', content: 'hi' }] }))
    expect(res.status).toBe(400)
    expect(res.headers['content-type']).toBe('application/json')
    const body = JSON.parse(await text(res.body)) as { error: Record<string, unknown> }
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request_error', param: null })
    expect(body.error['message']).toContain('max_tokens: 100000 > 64000')
    expect(backends.state()[0]?.circuit).toBe('closed')
  })

  it('refuses what Anthropic cannot express with 400 invalid_request naming the field, before anything goes up', async () => {
    const { fake, backends } = await claude()
    const err = await failureOf(backends.serve(chat({ n: 2, messages: [{ role: 'user', content: 'hi' }] })))
    expect(err).toMatchObject({ code: 'invalid_request', status: 400, param: 'n' })
    const nested = await failureOf(backends.serve(chat({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] })))
    expect(nested.param).toBe('messages[0].content[0].type')
    expect(posts(fake)).toHaveLength(0)
  })

  it('ends a stalled stream by failing the body with upstream_timeout (the relay writes the event in the client’s shape)', async () => {
    const { fake, backends } = await claude({ timeouts: { idle_ms: 200 } })
    fake.stall()
    const res = await backends.serve(chat({ messages: [{ role: 'user', content: 'hi' }] }, true))
    const started = Date.now()
    const err = await failureOf(text(res.body))
    expect(err.code).toBe('upstream_timeout')
    expect(err.message).toContain('idle_ms')
    expect(Date.now() - started).toBeLessThan(3_000)
  })

  it('leaves token counts and the Responses API unconverted', async () => {
    const { backends } = await claude()
    const tokens = await failureOf(backends.serve({ ...chat({}), endpoint: 'chat_input_tokens', path: '/v1/chat/completions/input_tokens' }))
    expect(tokens.code).toBe('unsupported_endpoint')
    expect((await failureOf(backends.serve({ ...chat({}), endpoint: 'responses', path: '/v1/responses' }))).code).toBe('unsupported_endpoint')
  })
})

describe('an Anthropic client of an openai backend', () => {
  it('sends a chat completion and answers a Message, the model as the backend wrote it', async () => {
    const { fake, backends } = await office()
    const res = await backends.serve(message({ system: 'be brief', stop_sequences: ['\n\n'], messages: [{ role: 'user', content: 'hi' }] }))
    expect(res.status).toBe(200)
    expect(JSON.parse(await text(res.body))).toMatchObject({
      id: 'chatcmpl-fake',
      type: 'message',
      role: 'assistant',
      model: 'fake-model',
      content: [{ type: 'text', text: 'Hello from the fake backend' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 3, output_tokens: 5 },
    })
    const seen = posts(fake)[0]
    expect(seen?.path).toBe('/v1/chat/completions')
    expect(seen?.body).toEqual({
      model: 'fake-model',
      max_tokens: 64,
      stop: ['\n\n'],
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
    })
  })

  it('streams named Messages events from chat chunks, asking the backend for the usage chunk', async () => {
    const { fake, backends } = await office()
    const res = await backends.serve(message({ messages: [{ role: 'user', content: 'hi' }] }, true))
    const out = events(await text(res.body))
    expect(out[0]?.event).toBe('message_start')
    expect(out.at(-1)?.event).toBe('message_stop')
    const said = out
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => (e.data as { delta: { text: string } }).delta.text)
      .join('')
    expect(said).toBe('Hello from the fake backend')
    expect(out.find((e) => e.event === 'message_delta')?.data).toMatchObject({ delta: { stop_reason: 'end_turn' } })
    expect(posts(fake)[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } })
  })

  it('puts max_tokens where the backend says (max_tokens_field)', async () => {
    const { fake, backends } = await office({ max_tokens_field: 'max_completion_tokens' })
    await text((await backends.serve(message({ messages: [{ role: 'user', content: 'hi' }] }))).body)
    expect(posts(fake)[0]?.body).toMatchObject({ max_completion_tokens: 64 })
    expect(posts(fake)[0]?.body?.['max_tokens']).toBeUndefined()
  })

  it("gives the backend's 4xx in Anthropic's error shape", async () => {
    const { fake, backends } = await office()
    fake.fail(404)
    const res = await backends.serve(message({ messages: [{ role: 'user', content: 'hi' }] }))
    expect(res.status).toBe(404)
    expect(JSON.parse(await text(res.body))).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'fake failure 404' } })
  })

  it('refuses what OpenAI cannot express, before anything goes up', async () => {
    const { fake, backends } = await office()
    const err = await failureOf(backends.serve(message({ thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'hi' }] })))
    expect(err).toMatchObject({ code: 'invalid_request', param: 'thinking' })
    expect(posts(fake)).toHaveLength(0)
  })

  it('leaves count_tokens unconverted', async () => {
    const { backends } = await office()
    const err = await failureOf(backends.serve({ ...message({}), endpoint: 'messages_count_tokens', path: '/v1/messages/count_tokens' }))
    expect(err.code).toBe('unsupported_endpoint')
  })
})

describe('a backend answer that cannot be converted', () => {
  let server: Server
  beforeAll(async () => {
    // Two choices: an Anthropic message has one.
    const answer = { id: 'x', object: 'chat.completion', model: 'm', choices: [0, 1].map((index) => ({ index, message: { role: 'assistant', content: 'a' } })) }
    server = createServer((req, res) => {
      req.resume()
      if (req.method === 'GET') res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}')
      else if (req.url === '/v1/chat/completions') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer))
      else res.writeHead(200, { 'content-type': 'application/json' }).end('not json')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('is a failed attempt, 502 upstream_error naming the backend and why', async () => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
    const backends = await serveWith(await spec({ base_url: base }))
    const err = await failureOf(backends.serve(message({ messages: [{ role: 'user', content: 'hi' }] })))
    expect(err).toMatchObject({ code: 'upstream_error', status: 502 })
    expect(err.message).toContain("backend 'be'")
    expect(err.message).toContain('2 choices')
  })
})
