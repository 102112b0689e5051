import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { alive } from '../../src/instances/pidfile.ts'
import { startFakeLlama, type FakeLlamaEnv, type RunningFake } from '../fixtures/fake-llama.ts'
import { waitFor } from './helpers.ts'

/** The `data:` payloads of an SSE body. */
function events(body: string): string[] {
  return body
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6))
}

const chat = (content: string, extra: object = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ messages: [{ role: 'user', content }], ...extra }),
})

describe('the fake llama-server', () => {
  let dir: string
  const running: RunningFake[] = []
  const start = async (args: string[] = [], env: FakeLlamaEnv = {}, waitReady = true): Promise<RunningFake> => {
    const f = await startFakeLlama({ dir, args, env, waitReady })
    running.push(f)
    return f
  }
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-fake-'))
  })
  afterEach(async () => {
    for (const f of running.splice(0)) {
      await f.stop()
      expect(alive(f.pid)).toBe(false)
    }
    await rm(dir, { recursive: true, force: true })
  })

  it('says 503 on /health while loading, then 200', async () => {
    const f = await start([], { FAKE_START_DELAY_MS: 200 }, false)
    const first = await fetch(`${f.url}/health`)
    expect(first.status).toBe(503)
    expect(await first.json()).toEqual({ error: { code: 503, message: 'Loading model', type: 'unavailable_error' } })
    await waitFor(async () => (await fetch(`${f.url}/health`)).status === 200, 3_000, 'health 200')
  })

  it('reports its slots in /props and /slots', async () => {
    const f = await start(['-np', '2', '-c', '1024'])
    expect(await (await fetch(`${f.url}/props`)).json()).toMatchObject({ total_slots: 2, default_generation_settings: { n_ctx: 512 } })
    expect(await (await fetch(`${f.url}/slots`)).json()).toEqual([
      { id: 0, n_ctx: 512, is_processing: false },
      { id: 1, n_ctx: 512, is_processing: false },
    ])
  })

  it('streams chat chunks in the OpenAI shape, ending with timings and [DONE]', async () => {
    const f = await start()
    const res = await fetch(`${f.url}/v1/chat/completions`, chat('hi', { stream: true, max_tokens: 4 }))
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const ev = events(await res.text())
    expect(ev.at(-1)).toBe('[DONE]')
    const chunks = ev
      .slice(0, -1)
      .map(
        (e) =>
          JSON.parse(e) as {
            object: string
            choices: { delta: { role?: string; content?: string | null }; finish_reason: string | null }[]
            timings?: { predicted_n: number }
          },
      )
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant')
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true)
    expect(
      chunks
        .slice(1, -1)
        .map((c) => c.choices[0]?.delta.content)
        .join(''),
    ).toBe('Hello world, this')
    expect(chunks.at(-1)).toMatchObject({ choices: [{ finish_reason: 'length' }], timings: { predicted_n: 4 }, usage: { completion_tokens: 4 } })
  })

  it('answers text completions, streaming and not', async () => {
    const f = await start([], { FAKE_TOKENS: 3 })
    const plain = (await (await fetch(`${f.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'x' }) })).json()) as object
    expect(plain).toMatchObject({ object: 'text_completion', choices: [{ text: 'Hello world,', finish_reason: 'stop' }], usage: { completion_tokens: 3 } })
    const streamed = events(await (await fetch(`${f.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'x', stream: true }) })).text())
    expect(streamed).toHaveLength(5)
  })

  it('generates at the configured token rate (command-line knob over env)', async () => {
    const f = await start(['--fake-token-rate', '200'], { FAKE_TOKEN_RATE: 100_000 })
    const t0 = performance.now()
    await (await fetch(`${f.url}/v1/chat/completions`, chat('hi', { max_tokens: 20 }))).json()
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90)
  })

  it('answers 503 when every slot is busy, and frees a slot when its client disconnects', async () => {
    const f = await start(['-np', '1'])
    const ctl = new AbortController()
    const stalled = await fetch(`${f.url}/v1/chat/completions`, { ...chat('FAKE_STALL', { stream: true }), signal: ctl.signal })
    expect(stalled.status).toBe(200)
    expect((await fetch(`${f.url}/v1/chat/completions`, chat('hi'))).status).toBe(503)
    ctl.abort()
    await waitFor(
      async () => ((await (await fetch(`${f.url}/slots`)).json()) as { is_processing: boolean }[])[0]?.is_processing === false,
      2_000,
      'the slot to be freed',
    )
    expect((await fetch(`${f.url}/v1/chat/completions`, chat('hi'))).status).toBe(200)
    expect(f.output()).toContain('cancel_tasks')
  })

  it('queues instead of refusing with FAKE_QUEUE, like the real server', async () => {
    const f = await start(['-np', '1'], { FAKE_QUEUE: 1, FAKE_TOKEN_RATE: 500 })
    const statuses = await Promise.all([1, 2].map(async () => (await fetch(`${f.url}/v1/chat/completions`, chat('hi', { max_tokens: 5 }))).status))
    expect(statuses).toEqual([200, 200])
  })

  it('serves embeddings only with --embedding and rerank only with --reranking', async () => {
    const plain = await start()
    expect((await fetch(`${plain.url}/v1/embeddings`, { method: 'POST', body: '{"input":"a"}' })).status).toBe(501)
    expect((await fetch(`${plain.url}/v1/rerank`, { method: 'POST', body: '{"query":"a","documents":[]}' })).status).toBe(501)
    const f = await start(['--embedding', '--reranking'])
    const emb = (await (await fetch(`${f.url}/v1/embeddings`, { method: 'POST', body: '{"input":["a","b"]}' })).json()) as { data: { embedding: number[] }[] }
    expect(emb.data).toHaveLength(2)
    expect(Math.hypot(...(emb.data[0]?.embedding ?? []))).toBeCloseTo(1)
    const rr = await (
      await fetch(`${f.url}/v1/rerank`, { method: 'POST', body: JSON.stringify({ query: 'red apple', documents: ['blue sky', 'a red apple'] }) })
    ).json()
    expect(rr).toMatchObject({
      object: 'list',
      results: [
        { index: 1, relevance_score: 1 },
        { index: 0, relevance_score: 0 },
      ],
    })
  })

  it('crashes on a request carrying the magic word', async () => {
    const f = await start()
    await fetch(`${f.url}/v1/chat/completions`, chat('please FAKE_CRASH now')).catch(() => undefined)
    expect(await f.exited).toEqual({ code: 134, signal: null })
    expect(f.output()).toContain('GGML_ASSERT')
  })
})
