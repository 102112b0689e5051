/**
 * The router's part in loading status and missing model files: what a waiting request is
 * told (whom it waits on, then what the local supervisor or the peer says), and how a node
 * whose model file is missing is left out, retried past and reported.
 */
import { Readable } from 'node:stream'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import type { Lease, QueueWait } from '../../src/instances/index.ts'
import type { ModelState } from '../../src/mesh/types.ts'
import { localModels, Router, type RemoteTargets, type RoutablePeer } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse, WaitStatus } from '../../src/router/types.ts'
import { cookbook, profile } from '../api/helpers.ts'
import { coldModel, routablePeer } from './fixtures.ts'

const model = (over: Partial<ModelState> = {}): ModelState => coldModel('m:default', over)
const peer = (id: string, name: string, models: ModelState[]): RoutablePeer => routablePeer(id, models, { name })

const served = (servedBy: string): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'text/event-stream' },
  body: Readable.from(['data: [DONE]\n\n']),
  servedBy,
})

/** A router whose local target is `acquire` (no llama-server: the lease is never proxied to unless acquire resolves). */
function router(o: {
  acquire?: (onWaiting: ((s: () => QueueWait) => void) | undefined) => Promise<Lease>
  localModel?: ModelState | null
  peers?: RoutablePeer[]
  forward?: RemoteTargets['forward']
}) {
  const p = profile('m:default')
  const forwarded: string[] = []
  const r = new Router(
    {
      logger: pino({ level: 'silent' }),
      local: {
        logger: pino({ level: 'silent' }),
        nodeName: 'self',
        dispatcher: undefined as never,
        profile: (id) => (o.localModel !== null && id === p.id ? p : undefined),
        instances: { acquire: async (_p, options) => (o.acquire ?? (async () => Promise.reject(new HerdError('spawn_failed', 'no'))))(options.onWaiting) },
      },
      localModels: () => (o.localModel === null ? [] : [o.localModel ?? model()]),
      localResources: () => ({ gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 2000 }),
      draining: () => false,
      remote: {
        peers: () => o.peers ?? [],
        forward: async (peerId, req, opts) => {
          forwarded.push(peerId)
          return (o.forward ?? (async (id) => served(id)))(peerId, req, opts)
        },
      },
    },
    { maxHops: 2, circuit: { threshold: 1, baseBackoffMs: 60_000 } },
  )
  return { r, forwarded }
}

/** A request that keeps every status it is told, read at once. */
function waitingRequest(): { req: RouteRequest; told: WaitStatus[]; latest: () => WaitStatus | undefined } {
  const thunks: (() => WaitStatus)[] = []
  const req: RouteRequest = {
    requestId: 'r1',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    profileId: 'm:default',
    body: Buffer.from('{}'),
    stream: true,
    hops: 0,
    headers: {},
    signal: new AbortController().signal,
    onWaiting: (s) => void thunks.push(s),
  }
  return {
    req,
    get told() {
      return thunks.map((t) => t())
    },
    latest: () => thunks.at(-1)?.(),
  }
}

// Local ranks first (a cold start fits with more free memory); the peer is there to retry on.
const coldPeer = (fileMissing = false) =>
  peer('p1', 'gpu-box-2', [model({ canFitNow: false, canFitAfterEviction: !fileMissing, ...(fileMissing ? { fileMissing } : {}) })])

describe('a waiting request', () => {
  it('hears whom it waits on, then what the local supervisor says', async () => {
    const w = waitingRequest()
    let seenInAcquire: WaitStatus[] = []
    const { r } = router({
      localModel: model(),
      acquire: async (onWaiting) => {
        onWaiting?.(() => ({ kind: 'queued', ahead: 2 }))
        seenInAcquire = w.told
        throw new HerdError('queue_full', 'full')
      },
      peers: [],
    })
    await expect(r.route(w.req)).rejects.toMatchObject({ code: 'queue_full' })
    expect(seenInAcquire).toEqual([
      { kind: 'waiting', model: 'm:default', node: 'self' },
      { kind: 'queued', ahead: 2, model: 'm:default', node: 'self' },
    ])
  })

  it("hears the peer's name and what its keep-alives carry", async () => {
    const w = waitingRequest()
    const { r } = router({
      localModel: null,
      peers: [peer('p1', 'gpu-box-2', [model()])],
      forward: async (id, _req, opts) => {
        opts.onWaiting?.({ kind: 'loading' })
        return served(id)
      },
    })
    await r.route(w.req)
    expect(w.told).toEqual([
      { kind: 'waiting', model: 'm:default', node: 'gpu-box-2' },
      { kind: 'loading', model: 'm:default', node: 'gpu-box-2' },
    ])
  })

  it('hears the next node once a failed attempt is retried there', async () => {
    const w = waitingRequest()
    const { r, forwarded } = router({
      acquire: async (onWaiting) => {
        onWaiting?.(() => ({ kind: 'loading' }))
        throw new HerdError('spawn_failed', 'it crashed while loading')
      },
      peers: [coldPeer()],
    })
    const res = await r.route(w.req)
    expect(res.servedBy).toBe('p1')
    expect(forwarded).toEqual(['p1'])
    expect(w.latest()).toEqual({ kind: 'waiting', model: 'm:default', node: 'gpu-box-2' })
  })

  it('passes no status hook to a peer when nobody listens', async () => {
    let hook: unknown = 'unset'
    const { r } = router({
      localModel: null,
      peers: [peer('p1', 'b', [model()])],
      forward: async (id, _req, opts) => {
        hook = opts.onWaiting
        return served(id)
      },
    })
    await r.route({ ...waitingRequest().req, onWaiting: undefined } as RouteRequest)
    expect(hook).toBeUndefined()
  })
})

describe('a missing model file', () => {
  it('makes this node gossip that the profile cannot fit, and say why', () => {
    const book = cookbook([profile('m:default'), profile('n:default')])
    const models = localModels({
      name: 'self',
      herdVersion: 't',
      llamaVersion: () => null,
      startedAt: 0,
      draining: () => false,
      cookbook: () => book,
      load: () => [],
      resources: () => ({ gpus: [], sysmem: { totalMb: 1, freeMb: 1 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1 }),
      fit: () => ({ now: true, afterEviction: true, vramMb: null, sysmemMb: null }),
      fileMissing: (id) => id === 'm:default',
    })
    expect(models.find((m) => m.id === 'm:default')).toMatchObject({ canFitNow: false, canFitAfterEviction: false, fileMissing: true })
    const ok = models.find((m) => m.id === 'n:default')
    expect(ok).toMatchObject({ canFitNow: true, canFitAfterEviction: true })
    expect(ok).not.toHaveProperty('fileMissing')
  })

  it('is retried on another node, without counting against that node when it is missing there too', async () => {
    const { r, forwarded } = router({
      acquire: async () => {
        throw new HerdError('model_file_missing', "model file for 'm:default' not found: /models/x.gguf")
      },
      peers: [coldPeer()],
      forward: async (id) => ({
        status: 503,
        headers: { 'content-type': 'application/json', 'x-herd-error': 'model_file_missing' },
        body: Readable.from([JSON.stringify({ error: { message: 'missing there too', type: 'server_error', param: null, code: 'model_file_missing' } })]),
        servedBy: id,
      }),
    })
    await expect(r.route(waitingRequest().req)).rejects.toMatchObject({ code: 'model_file_missing' })
    expect(forwarded).toEqual(['p1'])
    expect(r.circuit('p1').state).toBe('closed')
  })

  it('leaves out peers whose gossip says their file is missing, and answers model_file_missing when only they serve it', async () => {
    const { r, forwarded } = router({
      localModel: null,
      peers: [coldPeer(true), peer('p2', 'cpu-box', [model({ canFitNow: false, canFitAfterEviction: false, fileMissing: true })])],
    })
    const err = await r.route(waitingRequest().req).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'model_file_missing', message: "the model file for 'm:default' is missing on gpu-box-2, cpu-box" })
    expect((err as HerdError).retryAfter).toBeUndefined()
    expect(forwarded).toEqual([])
  })
})
