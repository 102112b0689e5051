/** Backend models on the HTTP surface: listed like any model (with whose and whether egress), refused on endpoints their protocol lacks, x-herd-no-egress passed on. */
import { describe, expect, it } from 'vitest'
import { forwardHandler } from '../../src/api/index.ts'
import type { BackendState, NodeState } from '../../src/mesh/types.ts'
import { ModelCatalog, type RoutablePeer } from '../../src/router/index.ts'
import type { RouteRequest } from '../../src/router/types.ts'
import { cookbook, json, profile, testApp } from './helpers.ts'

function backend(name: string, protocol: BackendState['protocol'], models: { model: string; names?: string[] }[], egress = false): BackendState {
  return {
    name,
    protocol,
    egress,
    health: 'up',
    circuit: 'closed',
    inUse: 0,
    maxConcurrency: 4,
    queueLength: 0,
    maxQueueSize: 8,
    models: models.map((m) => ({ id: `${name}/${m.model}`, model: m.model, names: m.names ?? [] })),
  }
}

function peer(name: string, backends: BackendState[]): RoutablePeer {
  const state = {
    id: name,
    name,
    herdVersion: 't',
    llamaVersion: null,
    startedAt: 1_000,
    seq: 1,
    status: 'ready',
    resources: { gpus: [], sysmem: { totalMb: 1, freeMb: 1 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1 },
    models: [],
    backends,
    peers: [],
  } satisfies NodeState
  return { id: name, name, fresh: true, state }
}

const book = cookbook([profile('tiny:default')], 'tiny:default')
const office = backend('office', 'openai', [{ model: 'qwen2.5-72b', names: ['qwen'] }])
const cloud = backend('claude', 'anthropic', [{ model: 'claude-sonnet' }], true)

const chat = (model: string, headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url: '/v1/chat/completions',
  headers: { 'content-type': 'application/json', ...headers },
  payload: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
})

describe('backend models over HTTP', () => {
  it('lists this node’s and peers’ backend models in /v1/models with herd.backend, herd.egress and their endpoints', async () => {
    const { app } = testApp({ cookbook: book, backends: [office], peers: [peer('b', [cloud])] })
    const list = (await app.inject({ method: 'GET', url: '/v1/models' })).json() as { data: { id: string; owned_by: string; herd: Record<string, unknown> }[] }
    const byId = new Map(list.data.map((m) => [m.id, m]))
    expect(byId.get('office/qwen2.5-72b')).toMatchObject({
      owned_by: 'node-a',
      herd: {
        backend: 'office',
        protocol: 'openai',
        egress: false,
        local: true,
        endpoints: ['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/embeddings'],
      },
    })
    expect(byId.get('qwen')?.herd['profile']).toBe('office/qwen2.5-72b')
    expect(byId.get('claude/claude-sonnet')).toMatchObject({
      owned_by: 'b',
      herd: { backend: 'claude', egress: true, local: false, endpoints: ['/v1/messages', '/v1/messages/count_tokens'] },
    })
    expect(byId.get('tiny:default')?.herd['backend']).toBeUndefined()
    const one = await app.inject({ method: 'GET', url: '/v1/models/office/qwen2.5-72b' })
    expect(one.json()).toMatchObject({ id: 'office/qwen2.5-72b', herd: { backend: 'office' } })
  })

  it('routes an alias of a backend model to its id', async () => {
    const { app, seen } = testApp({ cookbook: book, backends: [office] })
    expect((await app.inject(chat('qwen'))).statusCode).toBe(200)
    expect(seen[0]?.profileId).toBe('office/qwen2.5-72b')
  })

  it('refuses an endpoint the backend’s protocol does not serve with 400 unsupported_endpoint', async () => {
    const { app, seen } = testApp({ cookbook: book, backends: [office], peers: [peer('b', [cloud])] })
    const messages = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ model: 'office/qwen2.5-72b', max_tokens: 4, messages: [] }),
    })
    expect(messages.statusCode).toBe(400)
    expect(messages.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })
    expect(messages.json().error.message).toContain("(an openai backend's model) does not serve /v1/messages")
    const tokenize = await app.inject({
      method: 'POST',
      url: '/tokenize',
      headers: { 'content-type': 'application/json' },
      payload: '{"model":"office/qwen2.5-72b"}',
    })
    expect(tokenize.headers['x-herd-error']).toBe('unsupported_endpoint')
    expect((await app.inject(chat('claude/claude-sonnet'))).json().error.message).toContain('it serves /v1/messages, /v1/messages/count_tokens')
    expect(seen).toEqual([])
  })

  it('passes x-herd-no-egress on to the router and in the headers a peer gets', async () => {
    const { app, seen } = testApp({ cookbook: book, backends: [office] })
    await app.inject(chat('office/qwen2.5-72b', { 'x-herd-no-egress': '1' }))
    await app.inject(chat('office/qwen2.5-72b', { 'x-herd-no-egress': 'yes' }))
    await app.inject(chat('office/qwen2.5-72b', { 'x-herd-no-egress': '0' }))
    await app.inject(chat('office/qwen2.5-72b'))
    expect(seen.map((r) => r.noEgress === true)).toEqual([true, true, false, false])
    expect(seen[0]?.headers['x-herd-no-egress']).toBe('1')
    expect(seen[2]?.headers['x-herd-no-egress']).toBeUndefined()
  })

  it('relays x-herd-model, the model that really answered', async () => {
    const { app } = testApp({
      cookbook: book,
      backends: [office],
      route: async () => ({ ...json({ model: 'qwen2.5-72b-instruct' }), headers: { 'x-herd-model': 'office/qwen2.5-72b' } }),
    })
    const res = await app.inject(chat('qwen'))
    expect(res.headers['x-herd-model']).toBe('office/qwen2.5-72b')
    // The body's model is the backend's own word.
    expect(res.json().model).toBe('qwen2.5-72b-instruct')
  })

  it('serves a forwarded request for a backend model here, with the no-egress header honoured', async () => {
    const catalog = new ModelCatalog({ nodeName: 'node-a', startedAt: 0, cookbook: () => book, peers: () => [], backends: () => [office] })
    const routed: RouteRequest[] = []
    const handle = forwardHandler({
      nodeName: 'node-a',
      catalog,
      route: async (r) => {
        routed.push(r)
        return json({ ok: true })
      },
    })
    const body = Buffer.from(JSON.stringify({ model: 'office/qwen2.5-72b', messages: [] }))
    await handle(
      { requestId: 'r1', method: 'POST', path: '/v1/chat/completions', headers: { 'x-herd-no-egress': '1' }, hops: 1, body },
      { signal: new AbortController().signal },
    )
    expect(routed[0]).toMatchObject({ profileId: 'office/qwen2.5-72b', hops: 1, noEgress: true })
  })
})
