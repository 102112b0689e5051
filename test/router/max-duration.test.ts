/**
 * max_request_duration_ms end to end inside one process: the api (app.inject), the real
 * router and local target, the supervisor, and the fake llama-server generating slowly.
 */
import { getEventListeners } from 'node:events'
import { text } from 'node:stream/consumers'
import type { FastifyInstance } from 'fastify'
import { Agent, request } from 'undici'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import type { ProfileSpec } from '../../src/config/types.ts'
import { forwardHandler } from '../../src/api/index.ts'
import { ModelCatalog, Router, serveLocal, type LocalTargetComponents } from '../../src/router/index.ts'
import type { ModelState } from '../../src/mesh/types.ts'
import type { FakeLlamaEnv } from '../fixtures/fake-llama.ts'
import { cookbook, testApp } from '../api/helpers.ts'
import { harness, logger, signal, waitFor, type Harness } from '../instances/helpers.ts'

const dispatcher = new Agent()
afterAll(async () => {
  await dispatcher.close()
})

interface Setup {
  h: Harness
  p: ProfileSpec
  local: LocalTargetComponents
  router: Router
  app: FastifyInstance
}

let current: Setup | undefined
afterEach(async () => {
  vi.restoreAllMocks()
  await current?.app.close()
  await current?.h.close()
  current = undefined
})

const resources = { gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 }

async function setup(limitMs: number | undefined, env: FakeLlamaEnv = {}, o: { prewarm?: boolean } = {}): Promise<Setup> {
  const h = await harness({ env })
  const p = h.profile({ maxRequestDurationMs: limitMs })
  const local: LocalTargetComponents = { logger, instances: h.manager, dispatcher, nodeName: 'node-a', profile: (id) => (id === p.id ? p : undefined) }
  const router = new Router({ logger, local, localModels: () => [], localResources: () => resources, draining: () => false })
  const { app } = testApp({ cookbook: cookbook([p]), route: (req) => router.route(req) })
  current = { h, p, local, router, app }
  if (o.prewarm !== false) await h.manager.prewarm(p, { signal: signal() })
  return current
}

const chat = (body: Record<string, unknown>) => ({
  method: 'POST' as const,
  url: '/v1/chat/completions',
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], ...body }),
})

/** The fake logs this when its client goes away mid-generation; then its slot is free again. */
async function upstreamCancelled(s: Setup): Promise<void> {
  await waitFor(() => s.h.manager.logs().some((l) => l.lines.some((x) => x.includes('cancel_tasks: cancel task'))), 5_000, 'the fake to see the abort')
  await waitFor(() => s.h.manager.snapshot().every((i) => i.busy === 0), 5_000, 'the lease to be released')
  const port = s.h.manager.snapshot()[0]?.port
  await waitFor(
    async () => {
      const res = await request(`http://127.0.0.1:${port}/slots`, { dispatcher })
      const slots = (await res.body.json()) as { is_processing: boolean }[]
      return slots.every((x) => !x.is_processing)
    },
    5_000,
    'the fake slot to be free',
  )
}

function events(body: string): string[] {
  return body
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6))
}

describe('max_request_duration_ms', () => {
  it('answers 504 upstream_timeout and stops llama-server when a non-streaming answer takes too long', async () => {
    const s = await setup(300, { FAKE_TOKEN_RATE: 20 })
    const t0 = performance.now()
    const res = await s.app.inject(chat({ max_tokens: 200 }))
    expect(performance.now() - t0).toBeLessThan(3_000)
    expect(res.statusCode).toBe(504)
    expect(res.headers['x-herd-error']).toBe('upstream_timeout')
    expect(res.json()).toMatchObject({ error: { code: 'upstream_timeout', type: 'server_error', param: null } })
    expect(res.json().error.message).toContain('max_request_duration_ms (300 ms)')
    await upstreamCancelled(s)
  })

  it('ends a stream that runs too long with an upstream_timeout SSE error event and stops llama-server', async () => {
    const s = await setup(400, { FAKE_TOKEN_RATE: 20 })
    const res = await s.app.inject(chat({ max_tokens: 200, stream: true }))
    expect(res.statusCode).toBe(200)
    const evs = events(res.body)
    expect(evs.length).toBeGreaterThan(2)
    expect(evs).not.toContain('[DONE]')
    const last = JSON.parse(evs.at(-1) ?? '{}') as { error?: { code?: string } }
    expect(last.error?.code).toBe('upstream_timeout')
    // Everything before it is ordinary token chunks.
    expect(evs.slice(0, -1).every((e) => (JSON.parse(e) as { object?: string }).object === 'chat.completion.chunk')).toBe(true)
    await upstreamCancelled(s)
  })

  it('counts a cold start: a request whose server is still loading gets 504 at its limit, not at the startup timeout', async () => {
    const s = await setup(200, { FAKE_START_DELAY_MS: 5_000 }, { prewarm: false })
    const t0 = performance.now()
    const res = await s.app.inject(chat({}))
    expect(performance.now() - t0).toBeLessThan(2_000)
    expect(res.statusCode).toBe(504)
    expect(res.json()).toMatchObject({ error: { code: 'upstream_timeout' } })
  })

  it('clears its timer and listeners when the request completes in time', async () => {
    const s = await setup(45_000, { FAKE_TOKEN_RATE: 0 })
    const setSpy = vi.spyOn(globalThis, 'setTimeout')
    const clearSpy = vi.spyOn(globalThis, 'clearTimeout')
    const client = new AbortController()
    const res = await serveLocal(s.local, {
      requestId: 'r1',
      endpoint: 'chat',
      path: '/v1/chat/completions',
      profileId: s.p.id,
      body: Buffer.from('{"messages":[]}'),
      stream: false,
      hops: 0,
      headers: {},
      signal: client.signal,
      receivedAt: performance.now(),
    })
    expect(res.status).toBe(200)
    expect(JSON.parse(await text(res.body))).toMatchObject({ object: 'chat.completion' })
    await waitFor(() => s.h.manager.snapshot().every((i) => i.busy === 0), 5_000, 'the lease to be released')
    // The one deadline timer (45 s, less the few ms already spent) was armed, and cleared.
    const armed = setSpy.mock.results
      .filter((_, i) => {
        const ms = setSpy.mock.calls[i]?.[1]
        return typeof ms === 'number' && ms > 40_000 && ms <= 45_000
      })
      .map((r) => r.value as unknown)
    expect(armed).toHaveLength(1)
    expect(clearSpy.mock.calls.map((c) => c[0] as unknown)).toContain(armed[0])
    expect(getEventListeners(client.signal, 'abort')).toHaveLength(0)
  })

  it('holds for a request forwarded by a peer: 504 in the forward answer, or the SSE error event in its stream', async () => {
    const s = await setup(300, { FAKE_TOKEN_RATE: 20 })
    const catalog = new ModelCatalog({ nodeName: 'node-a', startedAt: 0, cookbook: () => cookbook([s.p]), peers: () => [] })
    const handle = forwardHandler({ nodeName: 'node-a', catalog, route: (req) => s.router.route(req) })
    const fwd = (body: Record<string, unknown>) => ({
      requestId: 'f1',
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      hops: 1,
      body: Buffer.from(JSON.stringify({ model: 'tiny', messages: [], max_tokens: 200, ...body })),
    })

    const plain = await handle(fwd({}), { signal: signal() })
    expect(plain.status).toBe(504)
    expect(plain.headers['x-herd-error']).toBe('upstream_timeout')
    expect(JSON.parse(await text(plain.body))).toMatchObject({ error: { code: 'upstream_timeout' } })

    const streamed = await handle(fwd({ stream: true }), { signal: signal() })
    expect(streamed.status).toBe(200)
    const last = JSON.parse(events(await text(streamed.body)).at(-1) ?? '{}') as { error?: { code?: string } }
    expect(last.error?.code).toBe('upstream_timeout')
    await upstreamCancelled(s)
  })

  it('does not start a request again on another node once its time is used up', async () => {
    const s = await setup(200, { FAKE_TOKEN_RATE: 20 })
    const model: ModelState = {
      id: s.p.id,
      model: 'tiny',
      profile: 'default',
      names: ['tiny'],
      capabilities: s.p.capabilities,
      instances: 1,
      readyInstances: 1,
      slotsTotal: 1,
      slotsBusy: 0,
      queueLength: 0,
      maxInstances: 1,
      maxQueueSize: 8,
      tokensPerSecond: null,
      estimatedVramMb: null,
      estimatedSysmemMb: null,
      canFitNow: true,
      canFitAfterEviction: true,
    }
    const forwarded: string[] = []
    const router = new Router({
      logger,
      local: s.local,
      localModels: () => [model],
      localResources: () => resources,
      draining: () => false,
      remote: {
        // A peer that could take it, but only after an eviction: ranked after this node.
        peers: () => [
          {
            id: 'b',
            name: 'b',
            fresh: true,
            state: {
              id: 'b',
              name: 'b',
              herdVersion: 't',
              llamaVersion: null,
              startedAt: 1,
              seq: 1,
              status: 'ready',
              resources,
              models: [{ ...model, instances: 0, readyInstances: 0, slotsTotal: 0, canFitNow: false }],
              peers: [],
            },
          },
        ],
        forward: async (peerId) => {
          forwarded.push(peerId)
          throw new Error('not reached')
        },
      },
    })
    const err = await router
      .route({
        requestId: 'r2',
        endpoint: 'chat',
        path: '/v1/chat/completions',
        profileId: s.p.id,
        body: Buffer.from('{"max_tokens":200}'),
        stream: false,
        hops: 0,
        headers: {},
        signal: signal(),
        receivedAt: performance.now(),
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(err).toMatchObject({ code: 'upstream_timeout' })
    expect(forwarded).toEqual([])
    await upstreamCancelled(s)
  })
})
