/** The traffic counters the dashboard and `herd top` read: rates over a minute, percentiles, the rolling history, and their bounds. */
import { describe, expect, it } from 'vitest'
import { MAX_TRAFFIC_ERROR_CODES, MAX_TRAFFIC_MODELS, quantile, Traffic, TRAFFIC_STEPS } from '../../src/api/traffic.ts'
import { nodeStateSchema } from '../../src/mesh/state-schema.ts'
import { validState } from '../mesh/fixtures/raw-peer.ts'

function clock(start = 1_000_000_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

describe('traffic statistics', () => {
  it('reports no traffic as zero rates and null percentiles, with a full-length history', () => {
    const t = new Traffic({ now: clock().now }).state()
    expect(t).toMatchObject({ windowSeconds: 60, requestsPerSecond: 0, tokensPerSecond: 0, ttfbP50Ms: null, ttfbP99Ms: null, errors: {}, models: [] })
    expect(t.history.stepSeconds).toBe(10)
    expect(t.history.requests).toHaveLength(TRAFFIC_STEPS)
    expect(t.history.ttfbP99Ms.every((v) => v === null)).toBe(true)
  })

  it('counts requests, tokens and errors per second over the last minute, per node and per model', () => {
    const c = clock()
    const traffic = new Traffic({ now: c.now })
    for (let i = 0; i < 60; i++) traffic.request('tiny:default', 100)
    for (let i = 0; i < 30; i++) traffic.request('big:default', 1000)
    traffic.tokens('tiny:default', 600)
    traffic.tokens('tiny:default', 0)
    traffic.error('queue_full', true)
    traffic.error('unauthorized', false)
    const t = traffic.state()
    expect(t.requestsPerSecond).toBeCloseTo(91 / 60, 3)
    expect(t.tokensPerSecond).toBe(10)
    expect(t.errors).toEqual({ queue_full: 1, unauthorized: 1 })
    expect(t.models.map((m) => m.id)).toEqual(['tiny:default', 'big:default'])
    expect(t.models[0]).toMatchObject({ requestsPerSecond: 1, tokensPerSecond: 10 })
    expect(t.models[1]).toMatchObject({ requestsPerSecond: 0.5, tokensPerSecond: 0 })
  })

  it('puts p50 and p99 within 20 % above the true time to first byte', () => {
    const traffic = new Traffic({ now: clock().now })
    for (let i = 1; i <= 1000; i++) traffic.request('m', i)
    const t = traffic.state()
    expect(t.ttfbP50Ms).toBeGreaterThanOrEqual(500)
    expect(t.ttfbP50Ms).toBeLessThanOrEqual(600)
    expect(t.ttfbP99Ms).toBeGreaterThanOrEqual(990)
    expect(t.ttfbP99Ms).toBeLessThanOrEqual(1188)
    expect(quantile(new Uint32Array(70), 0.5)).toBeNull()
  })

  it('lets requests leave the window after a minute and the history after 30 steps, oldest step first', () => {
    const c = clock(0)
    const traffic = new Traffic({ now: c.now })
    traffic.request('m', 10)
    c.advance(10_000)
    traffic.request('m', 10)
    traffic.request('m', 10)
    let t = traffic.state()
    expect(t.history.requests.slice(-2)).toEqual([1, 2])
    expect(t.requestsPerSecond).toBeCloseTo(3 / 60, 3)
    c.advance(50_000)
    t = traffic.state()
    // The first step (t=0) left the 60 s window; the second is still in it.
    expect(t.requestsPerSecond).toBeCloseTo(2 / 60, 3)
    expect(t.history.requests.slice(-7)).toEqual([1, 2, 0, 0, 0, 0, 0])
    c.advance(TRAFFIC_STEPS * 10_000)
    t = traffic.state()
    expect(t.history.requests.every((n) => n === 0)).toBe(true)
    expect(t.models).toEqual([])
  })

  it(`keeps at most ${MAX_TRAFFIC_MODELS} models and ${MAX_TRAFFIC_ERROR_CODES} error codes, counting the rest as other`, () => {
    const c = clock(0)
    const traffic = new Traffic({ now: c.now })
    for (let step = 0; step < 6; step++) {
      for (let i = 0; i < 100; i++) {
        traffic.request(`model-${step}-${i}`, 5)
        traffic.error(`code_${step}_${i}`, false)
      }
      c.advance(10_000)
    }
    c.advance(-10_000)
    const t = traffic.state()
    expect(t.models.length).toBeLessThanOrEqual(MAX_TRAFFIC_MODELS)
    expect(Object.keys(t.errors).length).toBeLessThanOrEqual(MAX_TRAFFIC_ERROR_CODES)
    expect(Object.values(t.errors).reduce((a, b) => a + b, 0)).toBe(600)
    expect(t.models.some((m) => m.id === 'other')).toBe(true)
    // What it gossips passes the schema peers check it with.
    expect(nodeStateSchema.safeParse(validState('p', { traffic: t })).success).toBe(true)
  })
})

describe('the gossiped traffic field', () => {
  const base = new Traffic({ now: clock().now }).state()
  const parses = (traffic: unknown): boolean => nodeStateSchema.safeParse({ ...validState('p'), traffic }).success

  it('is optional, so states from older nodes still pass', () => {
    expect(nodeStateSchema.safeParse(validState('p')).success).toBe(true)
    expect(parses(base)).toBe(true)
  })

  it('refuses unbounded lists and nonsense values from a peer', () => {
    expect(parses({ ...base, errors: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`c${i}`, 1])) })).toBe(false)
    const m = { id: 'x', requestsPerSecond: 1, tokensPerSecond: 1, ttfbP50Ms: 1, ttfbP99Ms: 2 }
    expect(parses({ ...base, models: Array.from({ length: 65 }, () => m) })).toBe(false)
    expect(parses({ ...base, history: { ...base.history, requests: Array.from({ length: 361 }, () => 0) } })).toBe(false)
    expect(parses({ ...base, requestsPerSecond: -1 })).toBe(false)
    expect(parses({ ...base, ttfbP50Ms: 'fast' })).toBe(false)
    expect(parses({ ...base, models: [{ ...m, id: 'x'.repeat(513) }] })).toBe(false)
  })

  it('bounds the per-model instance list and checks the memory split fields', () => {
    const instance = { id: 'i', state: 'ready', slots: 1, busy: 0, gpus: [0], vramMb: null, sysmemMb: 12, startedAt: 1 }
    const model = {
      id: 'm:default',
      model: 'm',
      profile: 'default',
      names: [],
      capabilities: { completion: true, embeddings: false, rerank: false },
      instances: 1,
      readyInstances: 1,
      slotsTotal: 1,
      slotsBusy: 0,
      queueLength: 0,
      maxInstances: 1,
      maxQueueSize: 1,
      tokensPerSecond: null,
      estimatedVramMb: null,
      estimatedSysmemMb: null,
      canFitNow: true,
      canFitAfterEviction: true,
    }
    const withRunning = (running: unknown[]) => nodeStateSchema.safeParse(validState('p', { models: [{ ...model, running } as never] })).success
    expect(withRunning([instance])).toBe(true)
    expect(withRunning(Array.from({ length: 65 }, () => instance))).toBe(false)
    expect(withRunning([{ ...instance, state: 'exploded' }])).toBe(false)
    const gpu = { index: 0, uuid: 'u', name: 'g', totalMb: 10, usedMb: 5, freeMb: 5, herdMb: 3 }
    const res = { gpus: [gpu], sysmem: { totalMb: 1, freeMb: 1, herdMb: 0 }, vramBudgetFreeMb: 1, sysmemBudgetFreeMb: 1 }
    expect(nodeStateSchema.safeParse(validState('p', { resources: res })).success).toBe(true)
    expect(nodeStateSchema.safeParse(validState('p', { resources: { ...res, gpus: [{ ...gpu, herdMb: 'lots' as never }] } })).success).toBe(false)
  })
})
