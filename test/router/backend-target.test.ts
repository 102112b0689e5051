/**
 * Backends as the router's third kind of target: scored by free concurrency and health,
 * a failure before the first byte going on to the next candidate, `x-herd-no-egress`
 * never reaching an egress backend, and every answer naming the model that served it.
 */
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import pino from 'pino'
import { Agent } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import type { BackendState, NodeState } from '../../src/mesh/types.ts'
import { Router, scoreBackend, type BackendTargets, type RemoteTargets, type RoutablePeer } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'

const dispatcher = new Agent()
afterAll(() => dispatcher.close())

const MODEL = 'office/qwen'

function backend(over: Partial<BackendState> = {}): BackendState {
  return {
    name: 'office',
    protocol: 'openai',
    egress: false,
    health: 'up',
    circuit: 'closed',
    inUse: 0,
    maxConcurrency: 4,
    queueLength: 0,
    maxQueueSize: 8,
    models: [{ id: MODEL, model: 'qwen', names: [] }],
    ...over,
  }
}

function peer(id: string, backends: BackendState[]): RoutablePeer {
  const state: NodeState = {
    id,
    name: id,
    herdVersion: 't',
    llamaVersion: null,
    startedAt: 1,
    seq: 1,
    status: 'ready',
    resources: { gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 },
    models: [],
    backends,
    peers: [],
  }
  return { id, name: id, fresh: true, state }
}

function request(over: Partial<RouteRequest> = {}): RouteRequest {
  return {
    requestId: 'r1',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    profileId: MODEL,
    body: Buffer.from('{}'),
    stream: false,
    hops: 0,
    headers: {},
    signal: new AbortController().signal,
    ...over,
  }
}

const answer = (servedBy: string, headers: Record<string, string> = {}): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', ...headers },
  body: Readable.from([Buffer.from(`{"by":"${servedBy}"}`)]),
  servedBy,
})

function router(options: { local?: BackendState; serve?: BackendTargets['serve']; peers?: RoutablePeer[]; forward?: RemoteTargets['forward'] }) {
  const served: string[] = []
  const forwarded: { peer: string; headers: Record<string, string> }[] = []
  const backends: BackendTargets = {
    find: (id) => (options.local?.models.some((m) => m.id === id) ? options.local : undefined),
    maxWaitMs: () => 1_000,
    serve: async (req) => {
      served.push(req.profileId)
      return (options.serve ?? (async () => answer('self')))(req)
    },
  }
  const r = new Router(
    {
      logger: pino({ level: 'silent' }),
      local: {
        logger: pino({ level: 'silent' }),
        nodeName: 'self',
        dispatcher,
        profile: () => undefined,
        instances: { acquire: async () => Promise.reject(new Error('no llama here')) },
      },
      localModels: () => [],
      localResources: () => ({ gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 }),
      draining: () => false,
      remote: {
        peers: () => options.peers ?? [],
        forward: async (peerId, req, opts) => {
          forwarded.push({ peer: peerId, headers: req.headers })
          return (options.forward ?? (async (id: string) => answer(id, { 'x-herd-model': MODEL })))(peerId, req, opts)
        },
      },
      backends,
    },
    { circuit: { threshold: 1, baseBackoffMs: 60_000 } },
  )
  return { r, served, forwarded }
}

describe('scoring a backend', () => {
  it.each([
    ['free concurrency', backend(), 0, { tier: 0, wait: 0 }],
    ['busier', backend({ inUse: 2 }), 1, { tier: 0, wait: 0.75 }],
    ['full: its queue', backend({ inUse: 4 }), 0, { tier: 1, wait: 0.25 }],
    ['queue full', backend({ inUse: 4, queueLength: 8 }), 0, null],
    ['down', backend({ health: 'down' }), 0, null],
    ['circuit open', backend({ circuit: 'open' }), 0, null],
    ['not probed yet', backend({ health: 'unknown' }), 0, { tier: 0, wait: 0 }],
  ] as const)('%s', (_what, b, pending, expected) => {
    expect(scoreBackend(b, pending)).toEqual(expected)
  })
})

describe('routing to backends', () => {
  it('serves a backend model with this node’s backend, saying which model answered', async () => {
    const { r, served } = router({ local: backend() })
    const res = await r.route(request())
    expect(served).toEqual([MODEL])
    expect(res.headers['x-herd-model']).toBe(MODEL)
    expect(await text(res.body)).toBe('{"by":"self"}')
  })

  it('goes to a peer whose backend has free concurrency when ours is full', async () => {
    const { r, served, forwarded } = router({ local: backend({ inUse: 4 }), peers: [peer('b', [backend()])] })
    const res = await r.route(request())
    expect(res.servedBy).toBe('b')
    expect(served).toEqual([])
    expect(forwarded.map((f) => f.peer)).toEqual(['b'])
  })

  it('forwards to a peer holding the credential when this node has no such backend', async () => {
    const { r, forwarded } = router({ peers: [peer('a', [backend()])] })
    const res = await r.route(request())
    expect(res.servedBy).toBe('a')
    expect(res.headers['x-herd-model']).toBe(MODEL)
    expect(forwarded).toHaveLength(1)
  })

  it('tries the next candidate when the backend fails before the first byte (429, 5xx, no answer)', async () => {
    const { r, served, forwarded } = router({
      local: backend(),
      peers: [peer('b', [backend({ inUse: 1 })])],
      serve: async () => {
        throw new HerdError('upstream_rate_limited', "backend 'office' is rate limiting herd (429)", { retryAfterSeconds: 2 })
      },
    })
    const res = await r.route(request())
    expect(served).toEqual([MODEL])
    expect(res.servedBy).toBe('b')
    expect(forwarded).toHaveLength(1)
  })

  it("does not trip a peer's circuit when the fault was its backend's", async () => {
    const envelope = JSON.stringify({ error: { message: 'backend down', type: 'server_error', param: null, code: 'upstream_error' } })
    const { r } = router({
      peers: [peer('b', [backend()])],
      forward: async (id) => ({ ...answer(id, { 'x-herd-error': 'upstream_error' }), status: 502, body: Readable.from([Buffer.from(envelope)]) }),
    })
    await expect(r.route(request())).rejects.toMatchObject({ code: 'upstream_error' })
    expect(r.circuit('b').state).toBe('closed')
  })

  it('serves a request forwarded by a peer with this node’s backend, never forwarding it again', async () => {
    const { r, served, forwarded } = router({ local: backend({ inUse: 4, queueLength: 8 }), peers: [peer('b', [backend()])] })
    await r.route(request({ hops: 1 }))
    expect(served).toEqual([MODEL])
    expect(forwarded).toEqual([])
  })

  it('answers with its own refusal when its backend is the only one and is full', async () => {
    const { r, served } = router({
      local: backend({ inUse: 4, queueLength: 8 }),
      serve: async () => {
        throw new HerdError('queue_full', "the queue for backend 'office' is full (8 waiting)")
      },
    })
    await expect(r.route(request())).rejects.toMatchObject({ code: 'queue_full' })
    expect(served).toEqual([MODEL])
  })

  it('lets a route fall back from a model nobody can serve now to a backend model', async () => {
    const { r, served } = router({ local: backend() })
    const res = await r.route(request({ profileId: 'gone:default', alternatives: [MODEL], strategy: 'first-available' }))
    expect(served).toEqual([MODEL])
    expect(res.headers['x-herd-model']).toBe(MODEL)
  })

  it('falls back from a backend that is rate limiting to the next model of the route', async () => {
    const { r, forwarded } = router({
      local: backend(),
      peers: [peer('b', [backend({ name: 'other', models: [{ id: 'other/m', model: 'm', names: [] }] })])],
      serve: async () => {
        throw new HerdError('upstream_rate_limited', "backend 'office' is rate limiting herd (429)")
      },
    })
    const res = await r.route(request({ alternatives: ['other/m'], strategy: 'first-available' }))
    expect(res.servedBy).toBe('b')
    expect(forwarded).toHaveLength(1)
  })

  describe('x-herd-no-egress', () => {
    it('goes to a backend inside the network over an egress one, and tells the peer too', async () => {
      const { r, served, forwarded } = router({ local: backend({ egress: true }), peers: [peer('b', [backend({ inUse: 3 })])] })
      const res = await r.route(request({ noEgress: true, headers: { 'x-herd-no-egress': '1' } }))
      expect(res.servedBy).toBe('b')
      expect(served).toEqual([])
      expect(forwarded[0]?.headers['x-herd-no-egress']).toBe('1')
    })

    it('answers 503 no_route saying so when only egress backends serve the model', async () => {
      const { r, served, forwarded } = router({ peers: [peer('b', [backend({ egress: true })])] })
      const err = await r.route(request({ noEgress: true })).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'no_route', status: 503 })
      expect((err as Error).message).toContain('x-herd-no-egress')
      expect((err as Error).message).toContain('egress: true')
      expect(served).toEqual([])
      expect(forwarded).toEqual([])
    })

    it('lets the same request through without the header', async () => {
      const { r, forwarded } = router({ peers: [peer('b', [backend({ egress: true })])] })
      await r.route(request())
      expect(forwarded).toHaveLength(1)
    })
  })
})
