import { afterEach, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import { cookbook, json, profile, sse, testApp } from './helpers.ts'
import type { FastifyInstance } from 'fastify'

const book = cookbook(
  [profile('tiny:default'), profile('tiny:long'), profile('embed:default', { capabilities: { completion: false, embeddings: true, rerank: false } })],
  'tiny:default',
)

const apps: FastifyInstance[] = []
function make(options: Parameters<typeof testApp>[0]) {
  const t = testApp(options)
  apps.push(t.app)
  return t
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

const chat = (body: unknown) => ({
  method: 'POST' as const,
  url: '/v1/chat/completions',
  headers: { 'content-type': 'application/json' },
  payload: typeof body === 'string' ? body : JSON.stringify(body),
})

describe('OpenAI endpoints', () => {
  it('routes a chat request to the profile the model name resolves to and relays the body verbatim', async () => {
    const { app, seen } = make({ cookbook: book, route: async () => json({ id: 'x', choices: [] }) })
    const res = await app.inject(chat({ model: 'tiny', messages: [] }))
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ id: 'x', choices: [] })
    expect(res.headers['x-herd-node']).toBe('node-a')
    expect(res.headers['x-request-id']).toBeTruthy()
    expect(seen[0]?.profileId).toBe('tiny:default')
    expect(seen[0]?.path).toBe('/v1/chat/completions')
  })

  it('resolves model:profile and falls back to default_model when model is absent', async () => {
    const { app, seen } = make({ cookbook: book })
    await app.inject(chat({ model: 'tiny:long', messages: [] }))
    await app.inject(chat({ messages: [] }))
    expect(seen.map((r) => r.profileId)).toEqual(['tiny:long', 'tiny:default'])
  })

  it('relays an SSE stream event by event with the serving node named', async () => {
    const { app } = make({ cookbook: book, route: async () => sse(['{"a":1}', '{"a":2}', '[DONE]']) })
    const res = await app.inject(chat({ model: 'tiny', stream: true, messages: [] }))
    expect(res.headers['content-type']).toContain('text/event-stream')
    expect(res.body).toBe('data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n')
  })

  it('keeps a sane client request id', async () => {
    const { app, seen } = make({ cookbook: book })
    const res = await app.inject({ ...chat({ model: 'tiny' }), headers: { 'content-type': 'application/json', 'x-request-id': 'abc-123' } })
    expect(res.headers['x-request-id']).toBe('abc-123')
    expect(seen[0]?.requestId).toBe('abc-123')
  })

  it.each([
    ['malformed JSON', '{"model": "tiny",', 400, 'invalid_json', null],
    ['a JSON array', '[1,2]', 400, 'invalid_request', null],
    ['a non-string model', { model: 5 }, 400, 'invalid_request', 'model'],
    ['an empty model', { model: '' }, 400, 'invalid_request', 'model'],
    ['an unknown model', { model: 'nope' }, 404, 'model_not_found', 'model'],
    ['a non-boolean stream', { model: 'tiny', stream: 'yes' }, 400, 'invalid_request', 'stream'],
    ['chat to an embedding profile', { model: 'embed' }, 400, 'unsupported_endpoint', 'model'],
  ])('answers %s with the OpenAI error envelope', async (_name, body, status, code, param) => {
    const { app, seen } = make({ cookbook: book })
    const res = await app.inject(chat(body))
    expect(res.statusCode).toBe(status)
    const envelope = res.json()
    expect(envelope.error.code).toBe(code)
    expect(envelope.error.param).toBe(param)
    expect(typeof envelope.error.message).toBe('string')
    expect(envelope.error.type).toBe(status === 400 || status === 404 ? 'invalid_request_error' : 'server_error')
    expect(seen).toHaveLength(0)
  })

  it('answers 400 when there is no model and no default', async () => {
    const { app } = make({ cookbook: cookbook([profile('a:default')]) })
    const res = await app.inject(chat({ messages: [] }))
    expect(res.statusCode).toBe(400)
    expect(res.json().error.message).toMatch(/no 'model'/)
  })

  it('answers 413 for a body over the limit', async () => {
    const { app } = make({ cookbook: book, bodyLimitBytes: 100 })
    const res = await app.inject(chat({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(200) }] }))
    expect(res.statusCode).toBe(413)
    expect(res.json().error.code).toBe('body_too_large')
  })

  it('maps router errors to their status and sets Retry-After on 503', async () => {
    const { app } = make({
      cookbook: book,
      route: async () => {
        throw new HerdError('queue_full', 'queue for tiny:default is full', { retryAfterSeconds: 3 })
      },
    })
    const res = await app.inject(chat({ model: 'tiny' }))
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('3')
    expect(res.json().error).toMatchObject({ code: 'queue_full', type: 'server_error' })
  })

  it('serves embeddings only from embedding profiles, and rerank under its aliases', async () => {
    const rerankBook = cookbook([
      profile('r:default', { capabilities: { completion: false, embeddings: false, rerank: true } }),
      profile('e:default', { capabilities: { completion: false, embeddings: true, rerank: false } }),
    ])
    const { app, seen } = make({ cookbook: rerankBook })
    const post = (url: string, model: string) =>
      app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ model }) })
    expect((await post('/v1/embeddings', 'e')).statusCode).toBe(200)
    expect((await post('/v1/embeddings', 'r')).statusCode).toBe(400)
    for (const url of ['/v1/rerank', '/v1/reranking', '/rerank']) expect((await post(url, 'r')).statusCode).toBe(200)
    expect(seen.map((r) => r.path)).toEqual(['/v1/embeddings', '/v1/rerank', '/v1/rerank', '/v1/rerank'])
  })

  it('requires a valid API key when keys are configured', async () => {
    const { app } = make({ cookbook: book, apiKeys: ['sekrit'] })
    expect((await app.inject(chat({ model: 'tiny' }))).statusCode).toBe(401)
    const bad = await app.inject({ ...chat({ model: 'tiny' }), headers: { 'content-type': 'application/json', authorization: 'Bearer nope' } })
    expect(bad.statusCode).toBe(401)
    const ok = await app.inject({ ...chat({ model: 'tiny' }), headers: { 'content-type': 'application/json', authorization: 'Bearer sekrit' } })
    expect(ok.statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)
  })

  it('answers unknown paths with a 404 envelope', async () => {
    const { app } = make({ cookbook: book })
    const res = await app.inject({ method: 'GET', url: '/v2/nothing' })
    expect(res.statusCode).toBe(404)
    expect(res.json().error.code).toBe('not_found')
  })
})
