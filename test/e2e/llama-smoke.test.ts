/**
 * The real llama-server with the tiny model: proves the fixture and the binary together
 * serve every endpoint herd proxies, fast enough for the end-to-end suites to lean on.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { type RunningLlamaServer, startLlamaServer } from '../helpers/llama-server.ts'

let dir: string
let model: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-llama-smoke-'))
  model = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function post(server: RunningLlamaServer, path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

describe('llama-server with the tiny model', () => {
  let server: RunningLlamaServer

  beforeAll(async () => {
    server = await startLlamaServer(['-m', model, '-c', '1024', '-np', '2', '-t', '1'])
  })

  afterAll(async () => {
    await server?.stop()
  })

  it('loads the model in well under a second', () => {
    expect(server.readyMs).toBeLessThan(1000)
  })

  it('reports its slots in /props', async () => {
    const props = (await (await fetch(`${server.url}/props`)).json()) as { total_slots: number }
    expect(props.total_slots).toBe(2)
  })

  it('answers a non-streaming chat completion with the requested number of tokens', async () => {
    const res = await post(server, '/v1/chat/completions', {
      messages: [{ role: 'user', content: 'hello world' }],
      max_tokens: 32,
      ignore_eos: true,
    })
    expect(res.status).toBe(200)
    const body = (await res.json()) as {
      choices: { message: { role: string; content: string } }[]
      usage: { completion_tokens: number }
      timings: { predicted_per_second: number }
    }
    expect(body.choices[0]?.message.role).toBe('assistant')
    expect(body.usage.completion_tokens).toBe(32)
    expect(body.timings.predicted_per_second).toBeGreaterThan(100)
  })

  it('streams a chat completion as server-sent events ending in [DONE]', async () => {
    const res = await post(server, '/v1/chat/completions', {
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 8,
      ignore_eos: true,
      stream: true,
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/)
    const events = (await res.text())
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6))
    expect(events.at(-1)).toBe('[DONE]')
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { object: string; choices: { finish_reason: string | null }[] })
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true)
    expect(chunks.some((c) => c.choices[0]?.finish_reason === 'length')).toBe(true)
  })

  it('answers a text completion', async () => {
    const res = await post(server, '/v1/completions', { prompt: 'the herd', max_tokens: 16, ignore_eos: true })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { object: string; choices: { text: string }[]; usage: { completion_tokens: number } }
    expect(body.object).toBe('text_completion')
    expect(body.usage.completion_tokens).toBe(16)
    expect(typeof body.choices[0]?.text).toBe('string')
  })
})

describe('llama-server with the tiny model in embedding mode', () => {
  let server: RunningLlamaServer

  beforeAll(async () => {
    server = await startLlamaServer(['-m', model, '-c', '512', '-t', '1', '--embedding', '--pooling', 'mean'])
  })

  afterAll(async () => {
    await server?.stop()
  })

  it('returns one mean-pooled vector per input, as long as the embedding length', async () => {
    const res = await post(server, '/v1/embeddings', { input: ['hello world', 'the llama'] })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { data: { index: number; embedding: number[] }[] }
    expect(body.data.map((d) => d.index)).toEqual([0, 1])
    for (const d of body.data) expect(d.embedding).toHaveLength(64)
  })
})
