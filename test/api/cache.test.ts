/**
 * The response cache through the app (app.inject, a fake router): a repeated deterministic
 * request is answered from the cache and not routed, in the form it was asked (JSON or
 * SSE); what is not whole is never stored; keys do not see each other's answers.
 */
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { Metrics } from '../../src/api/index.ts'
import { ResponseCache, type CacheHit, type ResponseCacheInit } from '../../src/cache/index.ts'
import { HerdError } from '../../src/errors/index.ts'
import type { RouteRequest, UpstreamResponse, WaitState } from '../../src/router/types.ts'
import { cookbook, json, profile, sse, testApp } from './helpers.ts'

const book = cookbook([profile('tiny:default'), profile('tiny:long')], 'tiny:default')
const ANSWER = { id: 'chatcmpl-1', choices: [{ message: { role: 'assistant', content: 'hello' } }], usage: { prompt_tokens: 3, completion_tokens: 2 } }
const EVENTS = ['{"choices":[{"delta":{"content":"hel"}}]}', '{"choices":[{"delta":{"content":"lo"}}]}', '[DONE]']

const apps: FastifyInstance[] = []
function make(
  options: { route?: (req: RouteRequest) => Promise<UpstreamResponse>; apiKeys?: string[]; init?: ResponseCacheInit; cache?: false; over?: object } = {},
) {
  const cache = options.cache === false ? undefined : new ResponseCache({}, options.init)
  const metrics = new Metrics({ load: () => [], cache: () => cache?.stats() ?? { bytes: 0, entries: 0 } }, { defaultMetrics: false })
  const t = testApp({
    cookbook: book,
    route: options.route ?? (async () => json(ANSWER)),
    ...(options.apiKeys ? { apiKeys: options.apiKeys } : {}),
    over: { metrics, ...(cache ? { cache } : {}), ...options.over },
  })
  apps.push(t.app)
  return { ...t, metrics, cache }
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

const post = (url: string, body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url,
  headers: { 'content-type': 'application/json', ...headers },
  payload: JSON.stringify(body),
})
const chat = (body: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  post('/v1/chat/completions', { model: 'tiny', temperature: 0, messages: [{ role: 'user', content: 'hi' }], ...body }, headers)

describe('the response cache on the OpenAI routes', () => {
  it('answers a second identical request from the cache without routing it', async () => {
    const { app, seen } = make()
    const first = await app.inject(chat())
    expect(first.headers['x-herd-cache']).toBe('miss')
    // Key order, `user` and the model's other name do not make another request.
    const second = await app.inject(
      post('/v1/chat/completions', { messages: [{ content: 'hi', role: 'user' }], temperature: 0, model: 'tiny:default', user: 'bob' }),
    )
    expect(second.statusCode).toBe(200)
    expect(second.headers['x-herd-cache']).toBe('hit')
    expect(second.headers['x-herd-node']).toBe('node-a')
    expect(second.headers['content-type']).toBe('application/json')
    expect(second.body).toBe(first.body)
    expect(seen).toHaveLength(1)
  })

  it('replays a streamed answer as SSE, and keeps it apart from the non-streamed one', async () => {
    const { app, seen } = make({ route: async (req) => (req.stream ? sse(EVENTS) : json(ANSWER)) })
    const first = await app.inject(chat({ stream: true }))
    const second = await app.inject(chat({ stream: true }))
    expect(second.headers['x-herd-cache']).toBe('hit')
    expect(second.headers['content-type']).toBe('text/event-stream')
    expect(second.body).toBe(first.body)
    expect(second.body).toBe('data: {"choices":[{"delta":{"content":"hel"}}]}\n\ndata: {"choices":[{"delta":{"content":"lo"}}]}\n\ndata: [DONE]\n\n')
    const plain = await app.inject(chat())
    expect(plain.headers['x-herd-cache']).toBe('miss')
    expect(plain.json()).toEqual(ANSWER)
    expect(seen).toHaveLength(2)
  })

  it('replays an Anthropic Messages stream event by event', async () => {
    const stream = [
      'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":3,"output_tokens":1}}}\n\n',
      'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n',
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}\n\n',
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]
    const { app, seen, cache } = make({
      route: async () => ({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: Readable.from(stream.map((s) => Buffer.from(s))),
        servedBy: 'node-a',
      }),
    })
    const hits: CacheHit[] = []
    cache?.on('cache:hit', (h) => hits.push(h))
    const body = { model: 'tiny', max_tokens: 8, temperature: 0, stream: true, messages: [{ role: 'user', content: 'hi' }] }
    const first = await app.inject(post('/v1/messages', body, { 'x-api-key': 'k' }))
    const second = await app.inject(post('/v1/messages', body, { 'x-api-key': 'k' }))
    expect(second.headers['x-herd-cache']).toBe('hit')
    expect(second.body).toBe(first.body)
    expect(second.body).toBe(stream.join(''))
    expect(seen).toHaveLength(1)
    expect(hits).toEqual([
      expect.objectContaining({
        endpoint: 'messages',
        model: 'tiny:default',
        usage: { inputTokens: 3, outputTokens: 2 },
        keyScope: expect.stringMatching(/^[0-9a-f]{64}$/),
      }),
    ])
  })

  it('caches embeddings without being asked, and bypasses requests that are not deterministic', async () => {
    const embed = cookbook(
      [profile('e:default', { capabilities: { completion: false, embeddings: true, rerank: false } }), profile('tiny:default')],
      'tiny:default',
    )
    const cache = new ResponseCache()
    const t = testApp({ cookbook: embed, route: async () => json({ data: [{ embedding: [1, 2] }] }), over: { cache } })
    apps.push(t.app)
    await t.app.inject(post('/v1/embeddings', { model: 'e', input: 'x' }))
    expect((await t.app.inject(post('/v1/embeddings', { model: 'e', input: 'x' }))).headers['x-herd-cache']).toBe('hit')
    const sampled = await t.app.inject(post('/v1/chat/completions', { model: 'tiny', messages: [] }))
    expect(sampled.headers['x-herd-cache']).toBe('bypass')
    await t.app.inject(post('/v1/chat/completions', { model: 'tiny', messages: [] }))
    expect(t.seen).toHaveLength(3)
  })

  it('follows x-herd-cache: off (never stored, never looked up) and use (any request)', async () => {
    const { app, seen } = make()
    expect((await app.inject(chat({}, { 'x-herd-cache': 'off' }))).headers['x-herd-cache']).toBe('bypass')
    expect((await app.inject(chat())).headers['x-herd-cache']).toBe('miss')
    expect((await app.inject(chat({}, { 'x-herd-cache': 'off' }))).headers['x-herd-cache']).toBe('bypass')
    const sampled = { temperature: 0.9 }
    expect((await app.inject(chat(sampled, { 'x-herd-cache': 'use' }))).headers['x-herd-cache']).toBe('miss')
    expect((await app.inject(chat(sampled, { 'x-herd-cache': 'use' }))).headers['x-herd-cache']).toBe('hit')
    // off, the miss, off again, and the first `use`: the second `use` came from the cache.
    expect(seen).toHaveLength(4)
  })

  it('refuses an x-herd-cache value it does not know, before routing', async () => {
    const { app, seen } = make()
    const res = await app.inject(chat({}, { 'x-herd-cache': 'always' }))
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatchObject({ code: 'invalid_request', param: 'x-herd-cache' })
    expect(seen).toHaveLength(0)
  })

  it('sends no x-herd-cache without a cache', async () => {
    const { app } = make({ cache: false })
    const res = await app.inject(chat({}, { 'x-herd-cache': 'nonsense' }))
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-herd-cache']).toBeUndefined()
  })

  it('never stores an error answer, a refusal, a stream that ended with an error event or a cut stream', async () => {
    let n = 0
    const answers: (() => UpstreamResponse | Promise<never>)[] = [
      () => json({ error: { message: 'bad', type: 'invalid_request_error' } }, 400),
      () => Promise.reject(new HerdError('queue_full', 'full')),
      () => sse(['{"choices":[]}', '{"error":{"message":"upstream_timeout"}}']),
      () => {
        const body = new Readable({ read() {} })
        body.push('data: {"choices":[]}\n\n')
        setImmediate(() => body.destroy(new Error('peer went away')))
        return { status: 200, headers: { 'content-type': 'text/event-stream' }, body, servedBy: 'peer' }
      },
    ]
    const { app, seen, cache } = make({ route: async () => (answers[n++] ?? (() => json(ANSWER)))() })
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await app.inject(chat({ stream: i >= 2 }))).statusCode)
    expect(statuses).toEqual([400, 503, 200, 200])
    expect(cache?.stats()).toMatchObject({ entries: 0, recordingBytes: 0 })
    expect((await app.inject(chat())).headers['x-herd-cache']).toBe('miss')
    expect(seen).toHaveLength(5)
  })

  it('stores a stream that waited behind loading comments, without the comments', async () => {
    const { app, seen } = make({
      over: { loading: { afterMs: 5, everyMs: 5 } },
      route: async (req) => {
        await commentShown(req, { kind: 'loading' })
        return sse(EVENTS)
      },
    })
    const first = await app.inject(chat({ stream: true }))
    expect(first.body).toMatch(/^: herd: loading/)
    const second = await app.inject(chat({ stream: true }))
    expect(second.headers['x-herd-cache']).toBe('hit')
    expect(second.body).toBe(EVENTS.map((e) => `data: ${e}\n\n`).join(''))
    expect(seen).toHaveLength(1)
  })

  it('keeps each API key to its own answers unless the cache is shared', async () => {
    const keys = ['k1', 'k2']
    const own = make({ apiKeys: keys })
    await own.app.inject(chat({}, { authorization: 'Bearer k1' }))
    expect((await own.app.inject(chat({}, { authorization: 'Bearer k2' }))).headers['x-herd-cache']).toBe('miss')
    expect((await own.app.inject(chat({}, { 'x-api-key': 'k1' }))).headers['x-herd-cache']).toBe('hit')
    const shared = make({ apiKeys: keys, init: { shared: true } })
    await shared.app.inject(chat({}, { authorization: 'Bearer k1' }))
    expect((await shared.app.inject(chat({}, { authorization: 'Bearer k2' }))).headers['x-herd-cache']).toBe('hit')
  })

  it('counts hits, misses and bytes in /metrics', async () => {
    const { app } = make()
    await app.inject(chat())
    await app.inject(chat())
    await app.inject(chat())
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
    expect(text).toContain('herd_cache_hits_total{endpoint="chat",kind="exact"} 2')
    expect(text).toContain('herd_cache_misses_total{endpoint="chat"} 1')
    expect(text).toMatch(/herd_cache_bytes [1-9]\d*/)
    expect(text).toContain('herd_cache_entries 1')
    expect(text).toContain('herd_requests_total{endpoint="chat",model="tiny:default",status="200"} 3')
  })
})

/** Report a wait through onWaiting and resolve once the api has shown it in a comment. */
function commentShown(req: RouteRequest, state: WaitState): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>()
  req.onWaiting?.(() => {
    setImmediate(resolve)
    return { model: req.profileId, node: 'node-a', ...state }
  })
  return promise
}
