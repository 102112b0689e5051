/**
 * The router when nodes are full or refuse: skipping nodes where a cold start cannot fit,
 * answering no_capacity at once when that leaves nobody, one wait bound for the whole
 * mesh, the circuit breaker at its default threshold, and no listeners left behind.
 */
import { getEventListeners } from 'node:events'
import { createServer } from 'node:net'
import { Readable } from 'node:stream'
import pino from 'pino'
import { Agent } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import type { ModelState } from '../../src/mesh/types.ts'
import type { AcquireOptions, Lease } from '../../src/instances/index.ts'
import { Router, WAIT_HEADER, serveLocal, type RemoteTargets, type RoutablePeer } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'
import type { CircuitBreakerInit } from '../../src/router/circuit-breaker.ts'
import { profile } from '../api/helpers.ts'
import { coldModel, routablePeer } from './fixtures.ts'

const dispatcher = new Agent()
afterAll(() => dispatcher.close())

const model = (over: Partial<ModelState> = {}): ModelState => coldModel('m:default', over)
const peer = (id: string, models: ModelState[]): RoutablePeer => routablePeer(id, models, { name: `node-${id}` })
const full = (): ModelState => model({ canFitNow: false, canFitAfterEviction: false })
const loaded = (): ModelState => model({ instances: 1, readyInstances: 1, slotsTotal: 1 })

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

const envelope = (code: string): UpstreamResponse => ({
  status: code === 'upstream_error' ? 502 : 503,
  headers: { 'content-type': 'application/json', 'x-herd-error': code },
  body: Readable.from([Buffer.from(JSON.stringify({ error: { message: `peer says ${code}`, type: 'server_error', param: null, code } }))]),
  servedBy: 'peer',
})

interface Options {
  /** This node serves m:default, as this model state (undefined: it does not serve it). */
  localModel?: ModelState
  peers?: RoutablePeer[]
  forward?: RemoteTargets['forward']
  acquire?: (options: AcquireOptions) => Promise<Lease>
  circuit?: CircuitBreakerInit
}

function router(o: Options) {
  const p = profile('m:default', { maxWaitInQueueMs: 30_000 })
  const forwarded: { peer: string; headers: Record<string, string> }[] = []
  const logs: { msg: string; nodes?: string[] }[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as { msg: string }) })
  const r = new Router(
    {
      logger,
      local: {
        logger: pino({ level: 'silent' }),
        nodeName: 'self',
        dispatcher,
        profile: (id) => (o.localModel && id === p.id ? p : undefined),
        instances: {
          acquire: async (_p, options) =>
            (
              o.acquire ??
              (async () => {
                throw new HerdError('no_capacity', 'local is full')
              })
            )(options),
        },
      },
      localModels: () => (o.localModel ? [o.localModel] : []),
      localResources: () => ({ gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 }),
      draining: () => false,
      remote: {
        peers: () => o.peers ?? [],
        forward: async (peerId, req, opts) => {
          forwarded.push({ peer: peerId, headers: req.headers })
          return (o.forward ?? (async () => envelope('upstream_error')))(peerId, req, opts)
        },
      },
    },
    { maxHops: 2, ...(o.circuit ? { circuit: o.circuit } : {}) },
  )
  return { r, forwarded, logs }
}

describe('router: nodes without room', () => {
  it('skips a peer whose gossip says a cold start cannot fit there, and says so once', async () => {
    let served = false
    const { r, forwarded, logs } = router({
      localModel: model({ canFitNow: false, canFitAfterEviction: true }),
      peers: [peer('b', [full()])],
      acquire: async () => {
        served = true
        throw new HerdError('queue_timeout', 'stop here')
      },
    })
    await expect(r.route(request())).rejects.toMatchObject({ code: 'queue_timeout' })
    expect(served).toBe(true)
    expect(forwarded).toEqual([])
    expect(logs.filter((l) => l.msg === 'skipping nodes where the model cannot fit')).toMatchObject([{ nodes: ['node-b'] }])
  })

  it('answers 503 no_capacity at once, with Retry-After, when no node has room', async () => {
    const { r, forwarded } = router({ peers: [peer('b', [full()]), peer('c', [full()])] })
    const started = performance.now()
    const err = await r.route(request()).catch((e: unknown) => e)
    expect(performance.now() - started).toBeLessThan(1_000)
    expect(err).toMatchObject({ code: 'no_capacity', status: 503, retryAfterSeconds: 5 })
    expect((err as Error).message).toBe("no node has room for 'm:default' (it cannot fit on node-b, node-c)")
    expect(forwarded).toEqual([])
  })

  it('lets this node refuse with its own reason when it serves the model and nobody has room', async () => {
    const { r } = router({ localModel: full(), peers: [peer('b', [full()])] })
    await expect(r.route(request())).rejects.toMatchObject({ code: 'no_capacity', message: 'local is full' })
  })
})

describe('router: one wait bound for the whole mesh', () => {
  it('sets a deadline from the local bound and sends every peer it tries the time left until it', async () => {
    const seen: { at: number; left: number }[] = []
    const { r, forwarded } = router({
      localModel: model(),
      peers: [peer('b', [loaded()]), peer('c', [loaded()])],
      acquire: async () => {
        throw new HerdError('queue_full', 'local full too')
      },
      forward: async (_id, req) => {
        seen.push({ at: Date.now(), left: Number(req.headers[WAIT_HEADER]) })
        await new Promise((resolve) => setTimeout(resolve, 20))
        return envelope('upstream_error')
      },
    })
    const before = Date.now()
    await expect(r.route(request())).rejects.toMatchObject({ code: 'queue_full' })
    expect(forwarded).toHaveLength(2)
    // One deadline, 30 s (the profile's bound) after the request came in, whoever is asked.
    const deadlines = seen.map((s) => s.at + s.left)
    for (const d of deadlines) {
      expect(d).toBeGreaterThanOrEqual(before + 30_000 - 1)
      expect(d).toBeLessThanOrEqual(before + 30_000 + 1_000)
    }
    expect(seen[1]!.left).toBeLessThan(seen[0]!.left)
  })

  it('honours the deadline a forwarded request carries when it waits locally', async () => {
    const seen: (number | undefined)[] = []
    const { r } = router({
      localModel: model(),
      acquire: async (o) => {
        seen.push(o.deadline)
        throw new HerdError('queue_timeout', 'done')
      },
    })
    await expect(r.route(request({ hops: 1, deadline: 1_234_567 }))).rejects.toMatchObject({ code: 'queue_timeout' })
    expect(seen).toEqual([1_234_567])
  })

  it('tries no further node once the deadline has passed', async () => {
    const { r, forwarded } = router({
      peers: [peer('b', [loaded()]), peer('c', [loaded()])],
      forward: async (_id, req) => {
        // The first peer keeps us until the deadline, then says it timed out.
        const deadline = Date.now() + Number(req.headers[WAIT_HEADER])
        while (Date.now() <= deadline) await new Promise((resolve) => setTimeout(resolve, 5))
        return envelope('queue_timeout')
      },
    })
    await expect(r.route(request({ deadline: Date.now() + 30 }))).rejects.toMatchObject({ code: 'queue_timeout' })
    expect(forwarded.map((f) => f.peer)).toHaveLength(1)
  })
})

describe('router: circuit breaker at its default threshold', () => {
  it('opens after three error envelopes from a peer', async () => {
    const { r } = router({ peers: [peer('b', [loaded()])] })
    for (let i = 0; i < 2; i++) {
      await expect(r.route(request())).rejects.toMatchObject({ code: 'upstream_error' })
      expect(r.circuit('b')).toEqual({ state: 'closed', failures: i + 1 })
    }
    await expect(r.route(request())).rejects.toMatchObject({ code: 'upstream_error' })
    expect(r.circuit('b').state).toBe('open')
  })

  it('stays closed through load refusals, and a real answer resets the count', async () => {
    const answers = ['upstream_error', 'upstream_error', 'queue_full', 'no_capacity', 'draining', 'queue_timeout', 'ok', 'upstream_error']
    const { r } = router({
      peers: [peer('b', [loaded()])],
      forward: async () => {
        const a = answers.shift()!
        return a === 'ok' ? { status: 200, headers: {}, body: Readable.from([Buffer.from('{}')]), servedBy: 'b' } : envelope(a)
      },
    })
    for (let i = 0; i < 8; i++) await r.route(request()).catch(() => undefined)
    expect(r.circuit('b')).toEqual({ state: 'closed', failures: 1 })
  })

  it('lets another probe through when a half-open probe meets a load refusal', async () => {
    let now = 0
    const answers = ['upstream_error', 'upstream_error', 'upstream_error', 'queue_full']
    const { r, forwarded } = router({
      peers: [peer('b', [loaded()])],
      circuit: { now: () => now },
      forward: async () => envelope(answers.shift() ?? 'upstream_error'),
    })
    for (let i = 0; i < 3; i++) await r.route(request()).catch(() => undefined)
    expect(r.circuit('b').state).toBe('open')
    now += 1_000
    await r.route(request()).catch(() => undefined)
    expect(forwarded).toHaveLength(4)
    expect(r.circuit('b')).toMatchObject({ state: 'half-open', probing: false })
    // The next request probes again (a stuck probe would keep the peer out for good).
    await r.route(request()).catch(() => undefined)
    expect(forwarded).toHaveLength(5)
  })
})

describe('serveLocal', () => {
  it('leaves no listener on the lease’s exit signal after upstream failures', async () => {
    // A port nobody listens on: every proxy attempt fails at once.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const a = s.address()
        s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0))
      })
    })
    const exited = new AbortController().signal
    const p = profile('m:default')
    const c = {
      logger: pino({ level: 'silent' }),
      nodeName: 'self',
      dispatcher,
      profile: () => p,
      instances: { acquire: async (): Promise<Lease> => ({ instanceId: 'i1', baseUrl: `http://127.0.0.1:${port}`, exited, release: () => {} }) },
    }
    for (let i = 0; i < 3; i++) {
      await expect(serveLocal(c, request())).rejects.toMatchObject({ code: 'upstream_error' })
      expect(getEventListeners(exited, 'abort')).toHaveLength(0)
    }
  })
})
