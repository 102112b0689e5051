import { PassThrough, Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { describe, expect, it } from 'vitest'
import { ResponseCache, type CacheHit } from '../../src/cache/index.ts'
import { answer, ask, query, record, replayed } from './helpers.ts'

const ANSWER = '{"choices":[{"message":{"content":"hello"}}],"usage":{"prompt_tokens":2,"completion_tokens":3}}'

describe('the response cache', () => {
  it('misses, records the answer as it passes, then hits with the same bytes and headers', async () => {
    const cache = new ResponseCache()
    const miss = await cache.lookup(query(ask('hi')))
    expect(miss.state).toBe('miss')
    expect(await record(miss, answer(ANSWER))).toBe(ANSWER)
    const hit = await cache.lookup(query(ask('hi')))
    expect(hit.state).toBe('hit')
    if (hit.state !== 'hit') return
    const res = hit.replay('node-a')
    expect(res.headers).toEqual({ 'content-type': 'application/json', 'x-herd-model': 'tiny:default', 'x-herd-cache': 'hit' })
    expect(res.servedBy).toBe('node-a')
    expect(await text(res.body)).toBe(ANSWER)
  })

  it('bypasses requests that are not deterministic', async () => {
    const cache = new ResponseCache()
    expect((await cache.lookup(query({ messages: [] }))).state).toBe('bypass')
    expect((await cache.lookup(query(ask('hi'), { mode: 'off' }))).state).toBe('bypass')
  })

  it('tells the usage ledger about a hit: model, key scope and the cached tokens', async () => {
    const cache = new ResponseCache()
    const hits: CacheHit[] = []
    cache.on('cache:hit', (h) => hits.push(h))
    await record(await cache.lookup(query(ask('hi'))), answer(ANSWER))
    await cache.lookup(query(ask('hi'), { requestId: 'r2' }))
    expect(hits).toEqual([
      {
        endpoint: 'chat',
        kind: 'exact',
        model: 'tiny:default',
        answeredBy: 'tiny:default',
        keyScope: 'key-a',
        requestId: 'r2',
        usage: { inputTokens: 2, outputTokens: 3 },
      },
    ])
  })

  it('keeps one scope per key unless shared', async () => {
    const own = new ResponseCache()
    await record(await own.lookup(query(ask('hi'))), answer(ANSWER))
    expect((await own.lookup(query(ask('hi'), { keyScope: 'key-b' }))).state).toBe('miss')
    expect((await own.lookup(query(ask('hi')))).state).toBe('hit')
    const shared = new ResponseCache({}, { shared: true })
    await record(await shared.lookup(query(ask('hi'))), answer(ANSWER))
    const other = await shared.lookup(query(ask('hi'), { keyScope: 'key-b' }))
    expect(other.state).toBe('hit')
  })

  it('never stores an error answer, an error body, a cut body or one whose client left', async () => {
    const cache = new ResponseCache()
    await record(await cache.lookup(query(ask('a'))), answer('{"error":{"message":"x"}}', { status: 500 }))
    await record(await cache.lookup(query(ask('b'))), answer('{"error":{"message":"x"}}'))
    await record(await cache.lookup(query(ask('c'))), answer('{"choices":[{"mess'))
    const d = await cache.lookup(query(ask('d')))
    if (d.state !== 'miss') throw new Error('expected a miss')
    const upstream = new PassThrough()
    const body = d.record(answer('', { body: upstream })).body
    upstream.write('{"choices":')
    body.destroy()
    upstream.end('[]}')
    const e = await cache.lookup(query(ask('e')))
    if (e.state !== 'miss') throw new Error('expected a miss')
    const failing = new Readable({ read() {} })
    const out = e.record(answer('', { body: failing })).body
    const failed = text(out).catch((err: unknown) => err)
    failing.push('{"choices":[]}')
    failing.destroy(new Error('upstream died'))
    expect(await failed).toBeInstanceOf(Error)
    for (const q of ['a', 'b', 'c', 'd', 'e']) expect((await cache.lookup(query(ask(q)))).state).toBe('miss')
    expect(cache.stats().entries).toBe(0)
  })

  it('passes an answer over max_entry_bytes through whole, uncached', async () => {
    const cache = new ResponseCache({}, { maxEntryBytes: 64 })
    const big = JSON.stringify({ choices: [{ text: 'x'.repeat(200) }] })
    expect(await record(await cache.lookup(query(ask('a'))), answer(big))).toBe(big)
    expect((await cache.lookup(query(ask('a')))).state).toBe('miss')
  })

  it('evicts the least recently used entries when the bytes run out', async () => {
    const body = (n: number) => JSON.stringify({ choices: [{ text: String(n).repeat(400) }] })
    // Each entry costs its body plus about 540 bytes: three fit in 3,000 bytes, four do not.
    const cache = new ResponseCache({}, { maxBytes: 3000 })
    for (const n of [1, 2, 3]) await record(await cache.lookup(query(ask(`q${n}`))), answer(body(n)))
    expect((await cache.lookup(query(ask('q1')))).state).toBe('hit') // q1 is now the most recent
    await record(await cache.lookup(query(ask('q4'))), answer(body(4)))
    expect(cache.stats().entries).toBe(3)
    expect(cache.stats().bytes).toBeLessThanOrEqual(3000)
    expect((await cache.lookup(query(ask('q2')))).state).toBe('miss')
    for (const q of ['q1', 'q3', 'q4']) expect((await cache.lookup(query(ask(q)))).state).toBe('hit')
  })

  it('expires entries after the TTL, by the clock it is given', async () => {
    let now = 1000
    const cache = new ResponseCache({}, { ttlMs: 60_000, now: () => now })
    await record(await cache.lookup(query(ask('hi'))), answer(ANSWER))
    now += 59_999
    expect((await cache.lookup(query(ask('hi')))).state).toBe('hit')
    now += 2
    expect((await cache.lookup(query(ask('hi')))).state).toBe('miss')
  })

  it('replays a streamed answer as the stream it was, and keeps streamed and plain answers apart', async () => {
    const cache = new ResponseCache()
    const events = 'data: {"choices":[{"delta":{"content":"he"}}]}\n\ndata: {"choices":[{"delta":{"content":"llo"}}]}\n\ndata: [DONE]\n\n'
    const sse = { 'content-type': 'text/event-stream', 'x-herd-model': 'tiny:default' }
    await record(await cache.lookup(query(ask('hi'), { stream: true })), answer(events, { headers: sse }))
    expect((await cache.lookup(query(ask('hi')))).state).toBe('miss')
    const hit = await cache.lookup(query(ask('hi'), { stream: true }))
    expect(await replayed(hit)).toBe(events)
    if (hit.state === 'hit') expect(hit.replay('n').headers['content-type']).toBe('text/event-stream')
  })

  it('forgets everything on clear', async () => {
    const cache = new ResponseCache()
    await record(await cache.lookup(query(ask('hi'))), answer(ANSWER))
    cache.clear()
    expect(cache.stats()).toEqual({ bytes: 0, entries: 0, semanticEntries: 0, recordingBytes: 0 })
  })
})
