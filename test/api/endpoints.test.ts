/**
 * The endpoints beyond chat/completions/embeddings/rerank: each routes by model to its
 * llama-server path, is refused on profiles that do not serve it, shows in /v1/models,
 * and (GET /props) carries its model through the forward protocol.
 */
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ENDPOINTS, forwardHandler } from '../../src/api/index.ts'
import { ModelCatalog } from '../../src/router/index.ts'
import type { RouteRequest } from '../../src/router/types.ts'
import { cookbook, json, profile, testApp } from './helpers.ts'

const EMBED = { completion: false, embeddings: true, rerank: false }
const book = cookbook([profile('tiny:default'), profile('tiny:long'), profile('embed:default', { capabilities: EMBED })], 'tiny:default')

const apps: FastifyInstance[] = []
function make(options: Partial<Parameters<typeof testApp>[0]> = {}) {
  const t = testApp({ cookbook: book, ...options })
  apps.push(t.app)
  return t
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

const post = (url: string, body: unknown) => ({ method: 'POST' as const, url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })

describe('endpoints routed by model', () => {
  it.each([
    ['/v1/responses', 'responses'],
    ['/v1/responses/input_tokens', 'responses_input_tokens'],
    ['/v1/chat/completions/input_tokens', 'chat_input_tokens'],
    ['/v1/messages', 'messages'],
    ['/v1/messages/count_tokens', 'messages_count_tokens'],
    ['/infill', 'infill'],
    ['/tokenize', 'tokenize'],
    ['/detokenize', 'detokenize'],
    ['/apply-template', 'apply_template'],
  ])('routes POST %s by its model to the same llama-server path, body verbatim', async (url, endpoint) => {
    const { app, seen } = make({ route: async () => json({ fine: true }) })
    const body = `{"model":"tiny:long","stream":false,"input":"hi \\u00e9"}`
    const res = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: body })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ fine: true })
    expect(seen[0]).toMatchObject({ endpoint, method: 'POST', path: url, profileId: 'tiny:long', stream: false })
    expect(seen[0]?.body.toString()).toBe(body)
  })

  it('uses default_model when the body names none (tokenize, infill)', async () => {
    const { app, seen } = make()
    await app.inject(post('/tokenize', { content: 'hello' }))
    await app.inject(post('/infill', { input_prefix: 'a', input_suffix: 'b' }))
    expect(seen.map((r) => r.profileId)).toEqual(['tiny:default', 'tiny:default'])
  })

  it('reads stream: true on the Responses and Messages APIs', async () => {
    const { app, seen } = make()
    await app.inject(post('/v1/responses', { model: 'tiny', input: 'x', stream: true }))
    await app.inject(post('/v1/messages', { model: 'tiny', messages: [], max_tokens: 4, stream: true }))
    expect(seen.map((r) => [r.stream, r.errorShape])).toEqual([
      [true, 'openai'],
      [true, 'anthropic'],
    ])
  })

  it('completes a /v1/responses event stream for strict clients, and relays other streams untouched', async () => {
    const events = 'event: response.output_item.added\ndata: {"type":"response.output_item.added","item":{"id":"msg_1","type":"message"}}\n\n'
    const stream = () => ({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: Readable.from([Buffer.from(events)]), servedBy: 'node-b' })
    const { app } = make({ route: async () => stream() })
    const responses = await app.inject(post('/v1/responses', { model: 'tiny', input: 'x', stream: true }))
    expect(responses.body).toBe(
      'event: response.output_item.added\ndata: {"type":"response.output_item.added","item":{"id":"msg_1","type":"message"},"sequence_number":0,"output_index":0}\n\n',
    )
    expect(responses.headers['x-herd-node']).toBe('node-b')
    const anthropic = 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1"}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    const { app: messagesApp } = make({
      route: async () => ({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: Readable.from([Buffer.from(anthropic)]), servedBy: 'node-b' }),
    })
    const messages = await messagesApp.inject(post('/v1/messages', { model: 'tiny', messages: [], stream: true }))
    expect(messages.body).toBe(anthropic)
  })

  it('serves GET /props for the model in the query, the model carried in the path for a peer', async () => {
    const { app, seen } = make({ route: async () => json({ total_slots: 2 }) })
    const res = await app.inject({ method: 'GET', url: '/props?model=tiny:long' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ total_slots: 2 })
    expect(seen[0]).toMatchObject({ endpoint: 'props', method: 'GET', path: '/props?model=tiny%3Along', profileId: 'tiny:long', stream: false })
    expect(seen[0]?.body.length).toBe(0)
    await app.inject({ method: 'GET', url: '/props' })
    expect(seen[1]?.profileId).toBe('tiny:default')
  })

  it.each([
    ['an unknown model', '/props?model=nope', 404, 'model_not_found'],
    ['model given twice', '/props?model=tiny&model=embed', 400, 'invalid_request'],
    ['an empty model', '/props?model=', 400, 'invalid_request'],
  ])('answers GET /props with %s in the envelope', async (_name, url, status, code) => {
    const { app, seen } = make()
    const res = await app.inject({ method: 'GET', url })
    expect(res.statusCode).toBe(status)
    expect(res.json().error).toMatchObject({ code, param: 'model' })
    expect(seen).toHaveLength(0)
  })

  it('serves tokenize, detokenize and props from an embedding profile, and nothing that generates', async () => {
    const { app, seen } = make()
    for (const url of ['/tokenize', '/detokenize', '/v1/embeddings']) expect((await app.inject(post(url, { model: 'embed' }))).statusCode, url).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/props?model=embed' })).statusCode).toBe(200)
    expect(seen).toHaveLength(4)
    for (const url of ['/v1/responses', '/v1/responses/input_tokens', '/v1/chat/completions/input_tokens', '/infill', '/apply-template']) {
      const res = await app.inject(post(url, { model: 'embed' }))
      expect(res.statusCode, url).toBe(400)
      expect(res.json().error, url).toMatchObject({ code: 'unsupported_endpoint', param: 'model' })
      expect(res.json().error.message, url).toContain('it serves /v1/embeddings, /tokenize, /detokenize, /props')
    }
    expect(seen).toHaveLength(4)
  })

  it('lists what each model serves in /v1/models (herd.endpoints)', async () => {
    const { app } = make()
    const { data } = (await app.inject({ method: 'GET', url: '/v1/models' })).json() as { data: { id: string; herd: { endpoints: string[] } }[] }
    const of = (id: string) => data.find((m) => m.id === id)?.herd.endpoints
    expect(of('embed')).toEqual(['/v1/embeddings', '/tokenize', '/detokenize', '/props'])
    expect(of('tiny:default')).toEqual(
      expect.arrayContaining([
        '/v1/chat/completions',
        '/v1/responses',
        '/v1/messages',
        '/v1/messages/count_tokens',
        '/infill',
        '/tokenize',
        '/apply-template',
        '/props',
      ]),
    )
    expect(of('tiny:default')).not.toContain('/v1/embeddings')
  })

  it('has one route per path in the table, each with its method', () => {
    const { app } = make()
    const registered = new Set(app.routePolicies.map((r) => `${r.method} ${r.url}`))
    for (const spec of Object.values(ENDPOINTS)) for (const p of spec.paths) expect(registered.has(`${spec.method} ${p}`), p).toBe(true)
  })
})

describe('forwarded requests for the new endpoints', () => {
  const catalog = new ModelCatalog({ nodeName: 'node-b', startedAt: 0, cookbook: () => book, peers: () => [] })
  const signal = new AbortController().signal
  function handler() {
    const seen: RouteRequest[] = []
    const handle = forwardHandler({ nodeName: 'node-b', catalog, route: async (req) => (seen.push(req), json({ ok: true })) })
    return { handle, seen }
  }

  it('serves a forwarded GET /props for the model named in its query', async () => {
    const { handle, seen } = handler()
    const res = await handle({ requestId: 'r1', method: 'GET', path: '/props?model=tiny%3Along', headers: {}, hops: 1, body: Buffer.alloc(0) }, { signal })
    expect(res.status).toBe(200)
    expect(seen[0]).toMatchObject({ endpoint: 'props', method: 'GET', profileId: 'tiny:long', hops: 1, path: '/props?model=tiny%3Along' })
  })

  it('serves a forwarded /v1/messages with the Anthropic error shape for its stream', async () => {
    const { handle, seen } = handler()
    await handle(
      { requestId: 'r2', method: 'POST', path: '/v1/messages', headers: {}, hops: 1, body: Buffer.from('{"model":"tiny","messages":[],"stream":true}') },
      { signal },
    )
    expect(seen[0]).toMatchObject({ endpoint: 'messages', errorShape: 'anthropic', stream: true })
  })

  it.each([
    ['GET on a POST endpoint', 'GET', '/v1/messages'],
    ['POST on a GET endpoint', 'POST', '/props?model=tiny'],
    ['an unknown path', 'POST', '/v1/nothing'],
  ])('refuses %s as not_found', async (_name, method, path) => {
    const { handle, seen } = handler()
    const res = await handle({ requestId: 'r3', method, path, headers: {}, hops: 1, body: Buffer.from('{"model":"tiny"}') }, { signal })
    expect(res.headers['x-herd-error']).toBe('not_found')
    expect(JSON.parse(await text(res.body)).error.code).toBe('not_found')
    expect(seen).toHaveLength(0)
  })

  it('refuses a forwarded request for an endpoint the profile does not serve', async () => {
    const { handle } = handler()
    const res = await handle(
      { requestId: 'r4', method: 'POST', path: '/v1/messages', headers: {}, hops: 1, body: Buffer.from('{"model":"embed"}') },
      { signal },
    )
    expect(res.status).toBe(400)
    expect(res.headers['x-herd-error']).toBe('unsupported_endpoint')
    // Between nodes the refusal stays herd's own envelope; the client's node renders it in its route's shape.
    expect(JSON.parse(await text(res.body)).error.code).toBe('unsupported_endpoint')
  })
})
