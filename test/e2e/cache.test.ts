/**
 * The response cache end to end: a real herd with `cache.enabled` and a semantic cache on
 * an embedding profile, a real llama-server, the tiny model, and the official `openai` and
 * `@anthropic-ai/sdk` clients. A repeated temperature-0 request is a hit with the same
 * content, streamed and not; the replayed streams parse in both SDKs. The tiny model's
 * weights are random, so its embeddings say nothing about meaning: the semantic test checks
 * that the path works (the prompt is embedded by the mesh, a hit follows the similarity the
 * embedding model itself reports: random weights put nearly everything close), not what a
 * good model would match; test/cache/semantic.test.ts checks the matching with a fake embedder. Every test asks with
 * its own max_tokens, so no two tests share a semantic context.
 */
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'

const THRESHOLD = 0.9
let herd: HerdProcess
let openai: OpenAI
let anthropic: Anthropic
/** llama-server reads `temperature` on /v1/messages; this SDK's types no longer list sampling parameters. */
const GREEDY = { temperature: 0 } as Record<never, never>

beforeAll(async () => {
  const home = await mkdtemp(join(tmpdir(), 'herd-e2e-cache-'))
  await writeTinyGguf(join(home, 'tiny.gguf'))
  herd = await startHerd({
    home,
    cookbook: {
      default_model: 'tiny',
      models: [
        { name: 'tiny', profiles: [{ id: 'default', model_path: 'tiny.gguf', llama_server_args: '-c 1024 --parallel 2 -t 1', idle_timeout_seconds: 300 }] },
        {
          name: 'tiny-embed',
          profiles: [{ id: 'default', model_path: 'tiny.gguf', llama_server_args: '-c 512 --embedding --pooling mean -t 1', idle_timeout_seconds: 300 }],
        },
      ],
    },
    config: { cache: { enabled: true, semantic: { embedding_model: 'tiny-embed', threshold: THRESHOLD, timeout_ms: 20_000 } } },
  })
  openai = new OpenAI({ baseURL: `${herd.url}/v1`, apiKey: 'k', maxRetries: 0, timeout: 60_000 })
  anthropic = new Anthropic({ baseURL: herd.url, apiKey: 'k', authToken: null, maxRetries: 0, timeout: 60_000 })
})

afterAll(async () => {
  await herd?.dispose()
  if (herd) await rm(herd.home, { recursive: true, force: true })
})

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`${herd.url}/metrics`)).text()
  return Number(
    text
      .split('\n')
      .find((l) => l.startsWith(line))
      ?.split(' ')
      .at(-1) ?? 0,
  )
}

const user = (content: string) => [{ role: 'user' as const, content }]

describe('the response cache on a real llama-server', () => {
  it('answers a repeated temperature-0 chat completion from the cache (openai client)', async () => {
    const ask = () => openai.chat.completions.create({ model: 'tiny', messages: user('hello there'), max_tokens: 11, temperature: 0 }).withResponse()
    const first = await ask()
    const second = await ask()
    expect(first.response.headers.get('x-herd-cache')).toBe('miss')
    expect(second.response.headers.get('x-herd-cache')).toBe('hit')
    expect(second.data).toEqual(first.data)
    expect(second.data.choices[0]?.message.content?.length).toBeGreaterThan(0)
    expect(await metric('herd_cache_hits_total{endpoint="chat",kind="exact"}')).toBeGreaterThanOrEqual(1)
  })

  it('replays a streamed chat completion that the openai client parses chunk by chunk', async () => {
    const ask = async () => {
      const { data, response } = await openai.chat.completions
        .create({ model: 'tiny', messages: user('once upon a time'), max_tokens: 12, temperature: 0, stream: true })
        .withResponse()
      let text = ''
      let chunks = 0
      for await (const chunk of data) {
        chunks++
        text += chunk.choices[0]?.delta?.content ?? ''
      }
      return { state: response.headers.get('x-herd-cache'), text, chunks }
    }
    const first = await ask()
    const second = await ask()
    expect([first.state, second.state]).toEqual(['miss', 'hit'])
    expect(second.text).toBe(first.text)
    expect(second.chunks).toBe(first.chunks)
    expect(first.chunks).toBeGreaterThan(2)
  })

  it('replays Anthropic Messages answers, streamed and not (@anthropic-ai/sdk)', async () => {
    const once = () => anthropic.messages.create({ model: 'tiny', max_tokens: 13, ...GREEDY, messages: user('hi claude') }).withResponse()
    const a = await once()
    const b = await once()
    expect([a.response.headers.get('x-herd-cache'), b.response.headers.get('x-herd-cache')]).toEqual(['miss', 'hit'])
    expect(b.data).toEqual(a.data)
    const streamed = async () => {
      const stream = anthropic.messages.stream({ model: 'tiny', max_tokens: 14, ...GREEDY, messages: user('hi claude') })
      const message = await stream.finalMessage()
      const state = (await stream.withResponse()).response.headers.get('x-herd-cache')
      return { state, message }
    }
    const c = await streamed()
    const d = await streamed()
    expect([c.state, d.state]).toEqual(['miss', 'hit'])
    expect(d.message.content).toEqual(c.message.content)
    expect(d.message.usage.output_tokens).toBe(c.message.usage.output_tokens)
  })

  it('replays a streamed Responses answer that the openai client accepts', async () => {
    const ask = async () => {
      const { data, response } = await openai.responses
        .create({ model: 'tiny', input: 'respond', max_output_tokens: 15, temperature: 0, stream: true })
        .withResponse()
      let text = ''
      let completed = false
      for await (const event of data) {
        if (event.type === 'response.output_text.delta') text += event.delta
        if (event.type === 'response.completed') completed = true
      }
      return { state: response.headers.get('x-herd-cache'), text, completed }
    }
    const first = await ask()
    const second = await ask()
    expect([first.state, second.state]).toEqual(['miss', 'hit'])
    expect(second).toMatchObject({ text: first.text, completed: true })
  })

  it('caches embeddings and leaves sampled requests alone', async () => {
    const embed = () => openai.embeddings.create({ model: 'tiny-embed', input: 'the herd' }).withResponse()
    const first = await embed()
    const second = await embed()
    expect([first.response.headers.get('x-herd-cache'), second.response.headers.get('x-herd-cache')]).toEqual(['miss', 'hit'])
    expect(second.data.data[0]?.embedding).toEqual(first.data.data[0]?.embedding)
    const sampled = await openai.chat.completions.create({ model: 'tiny', messages: user('x'), max_tokens: 2, temperature: 0.8 }).withResponse()
    expect(sampled.response.headers.get('x-herd-cache')).toBe('bypass')
  })

  it('embeds prompts with the mesh-served embedding model and reuses an answer as close as the threshold asks', async () => {
    const a = 'tell me about the herd of llamas'
    const b = 'tell me about the herd of llamas!'
    const vectors = (await openai.embeddings.create({ model: 'tiny-embed', input: [a, b] }, { headers: { 'x-herd-cache': 'off' } })).data.map(
      (d) => d.embedding,
    )
    const similarity = cosine(vectors[0] ?? [], vectors[1] ?? [])
    const embedsBefore = await metric('herd_cache_embedding_seconds_count')
    const ask = (content: string) => openai.chat.completions.create({ model: 'tiny', messages: user(content), max_tokens: 16, temperature: 0 }).withResponse()
    const first = await ask(a)
    const second = await ask(b)
    expect(first.response.headers.get('x-herd-cache')).toBe('miss')
    expect(await metric('herd_cache_embedding_seconds_count')).toBe(embedsBefore + 2)
    // The fixture's weights are seeded, so this holds on every run (measured: 0.9998).
    expect(similarity, 'the embedding model finds the two prompts this close').toBeGreaterThanOrEqual(THRESHOLD)
    expect(second.response.headers.get('x-herd-cache')).toBe('hit')
    expect(second.data).toEqual(first.data)
    expect(await metric('herd_cache_hits_total{endpoint="chat",kind="semantic"}')).toBe(1)
    // The same words in another context (another max_tokens) are another question, however close.
    const other = await openai.chat.completions.create({ model: 'tiny', messages: user(b), max_tokens: 17, temperature: 0 }).withResponse()
    expect(other.response.headers.get('x-herd-cache')).toBe('miss')
  })
})

function cosine(a: number[], b: number[]): number {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] ?? 0) * (b[i] ?? 0)
    na += (a[i] ?? 0) ** 2
    nb += (b[i] ?? 0) ** 2
  }
  return dot / Math.sqrt(na * nb)
}
