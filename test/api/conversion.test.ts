/**
 * Conversion at the front door: with the converter, a backend model of the other protocol
 * serves the chat endpoint of either (listed in /v1/models, routed), a request that cannot
 * be converted is the client's 400 naming the field before it is routed (here or as a
 * peer's forward), a route's candidates that cannot take it are left out, and what is
 * never converted (token counts, Responses) stays unsupported_endpoint.
 */
import { describe, expect, it } from 'vitest'
import { forwardHandler } from '../../src/api/index.ts'
import { convertProtocols } from '../../src/backends/index.ts'
import type { RouteSpec } from '../../src/config/types.ts'
import type { BackendState } from '../../src/mesh/types.ts'
import { ModelCatalog } from '../../src/router/index.ts'
import { cookbook, json, profile, testApp } from './helpers.ts'

function backend(name: string, protocol: BackendState['protocol'], model: string): BackendState {
  return {
    name,
    protocol,
    egress: false,
    health: 'up',
    circuit: 'closed',
    inUse: 0,
    maxConcurrency: 4,
    queueLength: 0,
    maxQueueSize: 8,
    models: [{ id: `${name}/${model}`, model, names: [] }],
  }
}

const office = backend('office', 'openai', 'qwen')
const claude = backend('claude', 'anthropic', 'sonnet')
const route = (name: string, candidates: string[]): RouteSpec => ({ name, candidates, strategy: 'first-available', description: undefined })
const base = cookbook([profile('tiny:default')], 'tiny:default')
const book = { ...base, routes: new Map([['smart', route('smart', ['claude/sonnet', 'tiny'])]]) }
const app = () => testApp({ cookbook: book, backends: [office, claude], over: { convert: convertProtocols } })

const post = (url: string, body: Record<string, unknown>) => ({
  method: 'POST' as const,
  url,
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(body),
})
const chat = (model: string, extra: Record<string, unknown> = {}) =>
  post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }], ...extra })
const message = (model: string, extra: Record<string, unknown> = {}) =>
  post('/v1/messages', { model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }], ...extra })

describe('backend models of the other protocol', () => {
  it('list the chat endpoint of both protocols in /v1/models', async () => {
    const list = (await app().app.inject({ method: 'GET', url: '/v1/models' })).json() as { data: { id: string; herd: { endpoints: string[] } }[] }
    const endpoints = (id: string): string[] | undefined => list.data.find((m) => m.id === id)?.herd.endpoints
    expect(endpoints('claude/sonnet')).toEqual(['/v1/chat/completions', '/v1/messages', '/v1/messages/count_tokens'])
    expect(endpoints('office/qwen')).toEqual(['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/messages', '/v1/embeddings'])
  })

  it('are routed for an OpenAI chat and an Anthropic message', async () => {
    const { app: a, seen } = app()
    expect((await a.inject(chat('claude/sonnet'))).statusCode).toBe(200)
    expect((await a.inject(message('office/qwen'))).statusCode).toBe(200)
    expect(seen.map((r) => [r.endpoint, r.profileId])).toEqual([
      ['chat', 'claude/sonnet'],
      ['messages', 'office/qwen'],
    ])
  })

  it('refuse a request that cannot be converted with 400 naming the field, before it is routed', async () => {
    const { app: a, seen } = app()
    const openai = await a.inject(chat('claude/sonnet', { logprobs: true }))
    expect(openai.statusCode).toBe(400)
    expect(openai.json()).toMatchObject({ error: { code: 'invalid_request', param: 'logprobs' } })
    const anthropic = await a.inject(message('office/qwen', { messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }))
    expect(anthropic.statusCode).toBe(400)
    expect(anthropic.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    expect(anthropic.json().error.message).toContain('document')
    expect(anthropic.headers['x-herd-error']).toBe('invalid_request')
    expect(seen).toEqual([])
  })

  it('convert a request that names no model (the default model) like one that does', async () => {
    const { app: a, seen } = testApp({ cookbook: { ...base, defaultModel: 'claude/sonnet' }, backends: [claude], over: { convert: convertProtocols } })
    expect((await a.inject(post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }))).statusCode).toBe(200)
    expect(seen[0]?.profileId).toBe('claude/sonnet')
  })

  it('leave a route candidate out when the request does not convert for it, and refuse when none is left', async () => {
    const { app: a, seen } = app()
    expect((await a.inject(chat('smart'))).statusCode).toBe(200)
    expect(seen[0]).toMatchObject({ profileId: 'claude/sonnet', alternatives: ['tiny:default'] })
    expect((await a.inject(chat('smart', { n: 3 }))).statusCode).toBe(200)
    expect(seen[1]?.profileId).toBe('tiny:default')
    expect(seen[1]?.alternatives).toBeUndefined()
    const alone = testApp({
      cookbook: { ...base, routes: new Map([['only', route('only', ['claude/sonnet'])]]) },
      backends: [claude],
      over: { convert: convertProtocols },
    })
    const refused = await alone.app.inject(chat('only', { n: 3 }))
    expect(refused.statusCode).toBe(400)
    expect(refused.json()).toMatchObject({ error: { code: 'invalid_request', param: 'n' } })
  })

  it('stay unsupported for token counts and the Responses API', async () => {
    const { app: a, seen } = app()
    const count = await a.inject(post('/v1/messages/count_tokens', { model: 'office/qwen', messages: [{ role: 'user', content: 'hi' }] }))
    expect(count.statusCode).toBe(400)
    expect(count.headers['x-herd-error']).toBe('unsupported_endpoint')
    expect(count.json().error.message).toContain('it serves /v1/chat/completions, /v1/completions, /v1/responses, /v1/messages, /v1/embeddings')
    const responses = await a.inject(post('/v1/responses', { model: 'claude/sonnet', input: 'hi' }))
    expect(responses.headers['x-herd-error']).toBe('unsupported_endpoint')
    const inputTokens = await a.inject(post('/v1/chat/completions/input_tokens', { model: 'claude/sonnet', messages: [] }))
    expect(inputTokens.headers['x-herd-error']).toBe('unsupported_endpoint')
    expect(seen).toEqual([])
  })

  it('refuse a forwarded request that cannot be converted in the error envelope a peer turns back into the 400', async () => {
    const catalog = new ModelCatalog({ nodeName: 'node-a', startedAt: 0, cookbook: () => base, peers: () => [], backends: () => [claude] })
    const routed: unknown[] = []
    const handle = forwardHandler({
      nodeName: 'node-a',
      catalog,
      convert: convertProtocols,
      route: async (r) => {
        routed.push(r)
        return json({ ok: true })
      },
    })
    const body = Buffer.from(JSON.stringify({ model: 'claude/sonnet', n: 2, messages: [{ role: 'user', content: 'hi' }] }))
    const res = await handle(
      { requestId: 'r1', method: 'POST', path: '/v1/chat/completions', headers: {}, hops: 1, body },
      { signal: new AbortController().signal },
    )
    expect(res.status).toBe(400)
    expect(res.headers['x-herd-error']).toBe('invalid_request')
    expect(routed).toEqual([])
  })
})
