/**
 * One herd endpoint, three kinds of model, both protocols: a local llama.cpp model herd
 * runs itself, a real llama-server herd did not start as an `openai` backend, and the fake
 * Anthropic Messages server as an `anthropic` backend, each asked by the official `openai`
 * and `@anthropic-ai/sdk` clients, streaming and not. Where client and backend speak
 * different protocols herd converts (a tool call streamed in pieces included); every
 * answer says in `x-herd-model` which model gave it, and its body's `model` is the
 * backend's own word.
 */
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FAKE_TOOL_INPUT, fakeAnthropic, type FakeBackend } from '../fixtures/fake-backend.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { startLlamaServer, type RunningLlamaServer } from '../helpers/llama-server.ts'

const ANTHROPIC_KEY = 'sk-ant-node-conversion-0123456789'

let dir: string
let modelPath: string
let upstream: RunningLlamaServer
let claude: FakeBackend
let herd: HerdProcess

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-e2e-convert-'))
  modelPath = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path
  ;[upstream, claude] = await Promise.all([startLlamaServer(['-m', modelPath, '-c', '512', '-t', '1']), fakeAnthropic({ key: ANTHROPIC_KEY })])
  herd = await startHerd({
    cookbook: {
      models: [{ name: 'tiny', profiles: [{ id: 'default', model_path: modelPath, llama_server_args: '-c 512 -t 1' }] }],
      backends: [
        { name: 'office', protocol: 'openai', base_url: `${upstream.url}/v1`, models: ['tiny-upstream'] },
        { name: 'claude', protocol: 'anthropic', base_url: claude.baseUrl, api_key_env: 'ANTHROPIC_KEY', models: ['claude-fake'], timeouts: { idle_ms: 500 } },
      ],
    },
    config: { node: { name: 'gateway' } },
    env: { ANTHROPIC_KEY },
  })
}, 120_000)

afterAll(async () => {
  await herd?.dispose()
  await Promise.all([upstream?.stop(), claude?.close()])
  await rm(dir, { recursive: true, force: true })
})

const openai = (): OpenAI => new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 })
const anthropic = (): Anthropic => new Anthropic({ baseURL: herd.url, apiKey: 'unused', maxRetries: 0, timeout: 30_000 })
const weather: OpenAI.Chat.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'weather',
    description: 'The forecast',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } },
  },
}

describe('an OpenAI client', () => {
  it('is answered by the anthropic backend, the body’s model as Anthropic wrote it', async () => {
    const { data, response } = await openai()
      .chat.completions.create({
        model: 'claude/claude-fake',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hi' },
        ],
      })
      .withResponse()
    expect(data.object).toBe('chat.completion')
    expect(data.choices[0]?.message.content).toBe('Hello from the fake Anthropic')
    expect(data.choices[0]?.finish_reason).toBe('stop')
    expect(data.model).toBe('claude-fake')
    expect(data.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 5 })
    expect(response.headers.get('x-herd-model')).toBe('claude/claude-fake')
    expect(response.headers.get('x-herd-node')).toBe('gateway')
    // What went up is a Messages request: the system prompt lifted out, the documented default max_tokens.
    const sent = claude.requests.filter((r) => r.method === 'POST').at(-1)
    expect(sent?.path).toBe('/v1/messages')
    expect(sent?.body).toMatchObject({ model: 'claude-fake', system: 'be brief', max_tokens: 4096 })
    expect(sent?.headers['x-api-key']).toBe(ANTHROPIC_KEY)
  })

  it('streams a tool call from the anthropic backend, its arguments arriving in pieces', async () => {
    const stream = openai().chat.completions.stream({
      model: 'claude/claude-fake',
      messages: [{ role: 'user', content: 'Weather in Paris for 3 days?' }],
      tools: [weather],
      stream_options: { include_usage: true },
    })
    let argumentPieces = 0
    stream.on('tool_calls.function.arguments.delta', () => argumentPieces++)
    const final = await stream.finalChatCompletion()
    const call = final.choices[0]?.message.tool_calls?.[0]
    expect(final.choices[0]?.finish_reason).toBe('tool_calls')
    expect(final.choices[0]?.message.content).toBe('Let me look that up.')
    expect(call?.type === 'function' ? call.function.name : undefined).toBe('weather')
    expect(JSON.parse(call?.type === 'function' ? call.function.arguments : '')).toEqual(FAKE_TOOL_INPUT)
    expect(argumentPieces).toBeGreaterThan(1)
    expect(final.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 9 })
    expect(final.model).toBe('claude-fake')
  })

  it('hears 400 naming the field for what Anthropic cannot express, and nothing goes up', async () => {
    const before = claude.requests.length
    const err = await openai()
      .chat.completions.create({ model: 'claude/claude-fake', n: 2, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('n')
    expect(claude.requests.filter((r, i) => i >= before && r.method === 'POST')).toEqual([])
  })

  it('hears a stalled converted stream end with an error within idle_ms', async () => {
    claude.stall()
    const started = Date.now()
    const stream = await openai().chat.completions.create({ model: 'claude/claude-fake', messages: [{ role: 'user', content: 'hi' }], stream: true })
    const read = async (): Promise<void> => {
      for await (const chunk of stream) void chunk
    }
    await expect(read()).rejects.toThrow(/idle_ms/)
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('is answered by the openai backend and by the local model as before', async () => {
    const backend = await openai()
      .chat.completions.create({ model: 'office/tiny-upstream', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 })
      .withResponse()
    expect(backend.response.headers.get('x-herd-model')).toBe('office/tiny-upstream')
    const local = await openai()
      .chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 })
      .withResponse()
    expect(local.data.choices[0]?.message.content).toBeTypeOf('string')
    expect(local.response.headers.get('x-herd-model')).toBe('tiny:default')
  })
})

describe('an Anthropic client', () => {
  it('is answered by a real llama-server configured as an openai backend, the body’s model as llama-server wrote it', async () => {
    const { data, response } = await anthropic()
      .messages.create({ model: 'office/tiny-upstream', max_tokens: 8, system: 'be brief', messages: [{ role: 'user', content: 'hello' }] })
      .withResponse()
    expect(data.type).toBe('message')
    expect(data.role).toBe('assistant')
    expect(data.content.every((b) => b.type === 'text' || b.type === 'thinking')).toBe(true)
    expect(['end_turn', 'max_tokens']).toContain(data.stop_reason)
    expect(data.usage.output_tokens).toBeGreaterThan(0)
    // llama-server names the model by its file, whatever the request said.
    expect(data.model).toBe(modelPath)
    expect(response.headers.get('x-herd-model')).toBe('office/tiny-upstream')
  })

  it('streams from the real llama-server through the converter, in the event order the SDK checks', async () => {
    const stream = anthropic().messages.stream({ model: 'office/tiny-upstream', max_tokens: 12, messages: [{ role: 'user', content: 'hello' }] })
    const kinds: string[] = []
    stream.on('streamEvent', (event) => kinds.push(event.type))
    const final = await stream.finalMessage()
    expect(kinds[0]).toBe('message_start')
    expect(kinds.at(-1)).toBe('message_stop')
    expect(kinds).toContain('content_block_delta')
    expect(['end_turn', 'max_tokens']).toContain(final.stop_reason)
    expect(final.usage.output_tokens).toBeGreaterThan(0)
    expect(final.model).toBe(modelPath)
  })

  it('is answered by the anthropic backend and by the local model, unconverted', async () => {
    const native = await anthropic().messages.create({ model: 'claude/claude-fake', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })
    expect(native.content[0]).toMatchObject({ type: 'text', text: 'Hello from the fake Anthropic' })
    const local = await anthropic()
      .messages.create({ model: 'tiny', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse()
    expect(local.data.type).toBe('message')
    expect(local.response.headers.get('x-herd-model')).toBe('tiny:default')
  })

  it('is refused token counts on the openai backend (never converted)', async () => {
    const err = await anthropic()
      .messages.countTokens({ model: 'office/tiny-upstream', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Anthropic.BadRequestError)
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).headers?.get('x-herd-error')).toBe('unsupported_endpoint')
  })
})
