import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import pino from 'pino'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import type { ModelState } from '../../src/mesh/types.ts'
import { Router, type RemoteTargets, type RoutablePeer } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'
import { profile } from '../api/helpers.ts'
import { coldModel, routablePeer } from './fixtures.ts'

const model = (over: Partial<ModelState> = {}): ModelState => coldModel('m:default', over)
const peer = (id: string, models: ModelState[], over: Partial<RoutablePeer> = {}): RoutablePeer => ({ ...routablePeer(id, models), ...over })

let upstream: Server
let baseUrl: string
const dispatcher = new Agent()

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.end(JSON.stringify({ served: 'local' })))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
})
afterAll(async () => {
  await dispatcher.close()
  await new Promise((resolve) => upstream.close(resolve))
})

function request(over: Partial<RouteRequest> = {}): RouteRequest {
  return {
    requestId: 'r1',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    profileId: 'm:default',
    body: Buffer.from('{}'),
    stream: false,
    hops: 0,
    headers: {},
    signal: new AbortController().signal,
    ...over,
  }
}

function remoteResponse(servedBy: string, headers: Record<string, string> = {}, status = 200, body = '{"served":"remote"}'): UpstreamResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: Readable.from([Buffer.from(body)]), servedBy }
}

function router(options: { local?: boolean; localModel?: ModelState; peers?: RoutablePeer[]; forward?: RemoteTargets['forward'] }) {
  const p = profile('m:default')
  const forwarded: string[] = []
  const r = new Router(
    {
      logger: pino({ level: 'silent' }),
      local: {
        logger: pino({ level: 'silent' }),
        nodeName: 'self',
        dispatcher,
        profile: (id) => (options.local !== false && id === p.id ? p : undefined),
        instances: { acquire: async () => ({ instanceId: 'i1', baseUrl, exited: new AbortController().signal, release: () => {} }) },
      },
      localModels: () => (options.local === false ? [] : [options.localModel ?? model()]),
      localResources: () => ({ gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 }),
      draining: () => false,
      remote: {
        peers: () => options.peers ?? [],
        forward: async (peerId, req, opts) => {
          forwarded.push(`${peerId}:${req.hops}`)
          return (options.forward ?? (async () => remoteResponse(peerId)))(peerId, req, opts)
        },
      },
    },
    { maxHops: 2, circuit: { threshold: 1, baseBackoffMs: 60_000 } },
  )
  return { r, forwarded }
}

describe('router', () => {
  it('sends a request to a peer with a free slot rather than cold-starting locally, with hops + 1', async () => {
    const { r, forwarded } = router({ peers: [peer('b', [model({ instances: 1, readyInstances: 1, slotsTotal: 1 })])] })
    const res = await r.route(request())
    expect(res.servedBy).toBe('b')
    expect(forwarded).toEqual(['b:1'])
  })

  it("asks the mesh to end a forwarded event stream that fails after its head with the error event in the route's shape", async () => {
    let endWith: ((err: Error) => string) | undefined
    const { r } = router({
      peers: [peer('b', [model({ instances: 1, readyInstances: 1, slotsTotal: 1 })])],
      forward: async (id, _req, opts) => {
        endWith = opts.endEventStream
        return remoteResponse(id)
      },
    })
    await r.route(request({ stream: true, errorShape: 'anthropic' }))
    expect(endWith?.(new HerdError('peer_unavailable', 'peer b went away'))).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"peer b went away"}}\n\n',
    )
    await r.route(request({ stream: true }))
    expect(JSON.parse(endWith?.(new HerdError('peer_unavailable', 'gone')).slice('data: '.length) ?? '')).toMatchObject({ error: { code: 'peer_unavailable' } })
  })

  it('serves a forwarded request locally even when a peer looks better (no ping-pong)', async () => {
    const { r, forwarded } = router({ peers: [peer('b', [model({ instances: 1, readyInstances: 1, slotsTotal: 1 })])] })
    const res = await r.route(request({ hops: 1 }))
    expect(res.servedBy).toBe('self')
    expect(await text(res.body)).toBe('{"served":"local"}')
    expect(forwarded).toEqual([])
  })

  it('refuses a request forwarded more than max_hops times', async () => {
    const { r } = router({})
    await expect(r.route(request({ hops: 3 }))).rejects.toMatchObject({ code: 'max_hops', status: 400 })
  })

  it('retries on the next candidate when a peer fails before the first byte, and opens its circuit', async () => {
    const { r, forwarded } = router({
      peers: [peer('b', [model({ instances: 1, readyInstances: 1, slotsTotal: 1 })])],
      forward: async () => {
        throw new HerdError('peer_unavailable', 'peer b went away')
      },
    })
    const res = await r.route(request())
    expect(res.servedBy).toBe('self')
    expect(forwarded).toEqual(['b:1'])
    expect(r.circuit('b').state).toBe('open')
    await r.route(request())
    expect(forwarded).toEqual(['b:1'])
  })

  it('turns a peer refusal carried in x-herd-error into a retry elsewhere', async () => {
    const envelope = JSON.stringify({ error: { message: 'queue full', type: 'server_error', param: null, code: 'queue_full' } })
    const { r } = router({
      peers: [peer('b', [model({ instances: 1, readyInstances: 1, slotsTotal: 1 })])],
      forward: async (id) => remoteResponse(id, { 'x-herd-error': 'queue_full' }, 503, envelope),
    })
    const res = await r.route(request())
    expect(res.servedBy).toBe('self')
    expect(r.circuit('b').state).toBe('closed')
  })

  it('skips stale and draining peers', async () => {
    const ready = model({ instances: 1, readyInstances: 1, slotsTotal: 1 })
    const { r } = router({
      local: false,
      peers: [peer('stale', [ready], { fresh: false }), { ...peer('drain', [ready]), state: { ...peer('drain', [ready]).state, status: 'draining' } }],
    })
    await expect(r.route(request())).rejects.toMatchObject({ code: 'no_route' })
  })

  it('spreads a burst over equal peers by counting its own sends since their last state', async () => {
    const free = model({ instances: 1, readyInstances: 1, slotsTotal: 1 })
    const { r, forwarded } = router({ local: false, peers: [peer('b', [free]), peer('c', [free])] })
    await r.route(request())
    await r.route(request())
    expect(forwarded.sort()).toEqual(['b:1', 'c:1'])
  })
})
