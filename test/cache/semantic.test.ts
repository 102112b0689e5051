import { describe, expect, it } from 'vitest'
import { ResponseCache, semanticPrompt, type CacheHit, type Embedder } from '../../src/cache/index.ts'
import { answer, ask, query, record } from './helpers.ts'

/** A fake embedding: one dimension per known word, so similarity is word overlap. */
const WORDS = ['what', 'is', 'the', 'capital', 'of', 'france', 'germany', 'tell', 'me']
function fakeEmbedder(calls: string[] = []): Embedder {
  return async (model, text) => {
    calls.push(`${model}:${text}`)
    const words = text.toLowerCase().split(/\W+/)
    return WORDS.map((w) => words.filter((x) => x === w).length)
  }
}

const ANSWER = '{"choices":[{"message":{"content":"Paris"}}]}'
const semantic = { embeddingModel: 'embed', threshold: 0.85 }

describe('the semantic cache', () => {
  it('reuses the answer to a question worded a little differently, and embeds with the configured model', async () => {
    const calls: string[] = []
    const cache = new ResponseCache({ embed: fakeEmbedder(calls) }, { semantic })
    const hits: CacheHit[] = []
    cache.on('cache:hit', (h) => hits.push(h))
    await record(await cache.lookup(query(ask('What is the capital of France?'))), answer(ANSWER))
    const near = await cache.lookup(query(ask('the capital of France is what')))
    expect(near.state).toBe('hit')
    if (near.state === 'hit') expect(near.kind).toBe('semantic')
    expect(hits[0]?.similarity).toBeGreaterThan(0.99)
    expect(calls[0]).toBe('embed:What is the capital of France?')
    expect((await cache.lookup(query(ask('What is the capital of Germany?')))).state).toBe('miss')
  })

  it('needs everything but the last user text to match exactly', async () => {
    const cache = new ResponseCache({ embed: fakeEmbedder() }, { semantic })
    await record(await cache.lookup(query(ask('What is the capital of France?'))), answer(ANSWER))
    const system = {
      messages: [
        { role: 'system', content: 'Answer in German.' },
        { role: 'user', content: 'the capital of France is what' },
      ],
    }
    expect((await cache.lookup(query(ask('', system)))).state).toBe('miss')
    expect((await cache.lookup(query(ask('the capital of France is what', { max_tokens: 4 })))).state).toBe('miss')
    expect(await cache.lookup(query(ask('the capital of France is what'), { models: ['other:default'] }))).toMatchObject({ state: 'miss' })
  })

  it('treats a failing or slow embedder as a miss, and stores no row for it', async () => {
    const failing = new ResponseCache({ embed: async () => Promise.reject(new Error('no model')) }, { semantic })
    const miss = await failing.lookup(query(ask('What is the capital of France?')))
    expect(miss.state).toBe('miss')
    await record(miss, answer(ANSWER))
    expect(failing.stats()).toMatchObject({ entries: 1, semanticEntries: 0 })
    const slow = new ResponseCache(
      { embed: (_m, _t, { signal }) => new Promise((_res, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error))) },
      { semantic: { ...semantic, timeoutMs: 5 } },
    )
    expect((await slow.lookup(query(ask('hi')))).state).toBe('miss')
  })

  it('scans at most max_entries rows, dropping the least recently used', async () => {
    const cache = new ResponseCache({ embed: fakeEmbedder() }, { semantic: { ...semantic, maxEntries: 2 } })
    for (const q of ['What is the capital of France?', 'tell me the capital of Germany', 'what is what']) {
      await record(await cache.lookup(query(ask(q))), answer(ANSWER))
    }
    expect(cache.stats()).toMatchObject({ entries: 3, semanticEntries: 2 })
    expect((await cache.lookup(query(ask('the capital of France is what')))).state).toBe('miss')
    expect((await cache.lookup(query(ask('me tell the capital of Germany')))).state).toBe('hit')
  })

  it('drops a row whose answer expired', async () => {
    let now = 1000
    const cache = new ResponseCache({ embed: fakeEmbedder() }, { semantic, ttlMs: 1000, now: () => now })
    await record(await cache.lookup(query(ask('What is the capital of France?'))), answer(ANSWER))
    now = 2001
    expect((await cache.lookup(query(ask('the capital of France is what')))).state).toBe('miss')
  })
})

describe('semantic prompts', () => {
  it('take the last user turn of chat and Messages bodies, text parts joined', () => {
    const body = {
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'ok' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
      ],
    }
    const p = semanticPrompt('chat', body)
    expect(p?.text).toBe('a\nb')
    expect((p?.rest['messages'] as unknown[])[2]).toEqual({ role: 'user', content: null })
    expect(semanticPrompt('messages', body)?.text).toBe('a\nb')
  })

  it('take a Responses input and a completion prompt', () => {
    expect(semanticPrompt('responses', { input: 'hi' })).toEqual({ text: 'hi', rest: { input: null } })
    expect(semanticPrompt('responses', { input: [{ role: 'user', content: [{ type: 'input_text', text: 'yo' }] }] })?.text).toBe('yo')
    expect(semanticPrompt('completions', { prompt: 'once upon' })?.text).toBe('once upon')
  })

  it('leave turns with images, array prompts and embeddings to the exact cache', () => {
    expect(semanticPrompt('chat', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] })).toBeUndefined()
    expect(semanticPrompt('completions', { prompt: ['a', 'b'] })).toBeUndefined()
    expect(semanticPrompt('embeddings', { input: 'x' })).toBeUndefined()
    expect(semanticPrompt('chat', { messages: [{ role: 'user', content: '   ' }] })).toBeUndefined()
  })
})
