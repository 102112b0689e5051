import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import type { Lease } from '../../src/instances/index.ts'
import { harness, rejectionOf, signal, waitFor, type Harness } from './helpers.ts'

describe('InstanceManager.acquire', () => {
  let h: Harness
  afterEach(async () => {
    await h.close()
  })

  it('lets two concurrent cold requests share one spawn', async () => {
    h = await harness()
    const p = h.profile({ args: ['-np', '2'], maxInstances: 2 })
    const [a, b] = await Promise.all([h.manager.acquire(p, { signal: signal() }), h.manager.acquire(p, { signal: signal() })])
    expect(a.instanceId).toBe(b.instanceId)
    expect(h.manager.counters().spawns).toBe(1)
    expect(h.manager.load()).toEqual([{ profileId: p.id, instances: 1, readyInstances: 1, slotsTotal: 2, slotsBusy: 2, queueLength: 0, tokensPerSecond: null }])
    a.release()
    b.release()
  })

  it('shares one spawn when the args do not say how many slots (llama-server auto: 4)', async () => {
    h = await harness()
    const p = h.profile({ args: [], maxInstances: 3 })
    const leases = await Promise.all([1, 2, 3].map(() => h.manager.acquire(p, { signal: signal() })))
    expect(new Set(leases.map((l) => l.instanceId)).size).toBe(1)
    expect(h.manager.counters().spawns).toBe(1)
    for (const l of leases) l.release()
  })

  it('spawns a second instance when load exceeds the slots, up to max_instances, then queues FIFO', async () => {
    h = await harness()
    const p = h.profile({ args: ['-np', '1'], maxInstances: 2 })
    const [a, b] = await Promise.all([h.manager.acquire(p, { signal: signal() }), h.manager.acquire(p, { signal: signal() })])
    expect(a.instanceId).not.toBe(b.instanceId)
    const order: string[] = []
    const third = h.manager.acquire(p, { signal: signal(), requestId: 'third' }).then((l) => (order.push('third'), l))
    const fourth = h.manager.acquire(p, { signal: signal(), requestId: 'fourth' }).then((l) => (order.push('fourth'), l))
    await waitFor(() => h.manager.load()[0]?.queueLength === 2)
    expect(h.manager.counters().spawns).toBe(2)
    b.release()
    const t = await third
    expect(t.instanceId).toBe(b.instanceId)
    a.release()
    const f = await fourth
    expect(f.instanceId).toBe(a.instanceId)
    expect(order).toEqual(['third', 'fourth'])
    t.release()
    f.release()
  })

  it('refuses with queue_full and a Retry-After when the queue is full', async () => {
    h = await harness()
    const p = h.profile({ maxQueueSize: 1 })
    const held = await h.manager.acquire(p, { signal: signal() })
    const queued = h.manager.acquire(p, { signal: signal() })
    const err = await rejectionOf(h.manager.acquire(p, { signal: signal() }))
    expect(err).toBeInstanceOf(HerdError)
    expect((err as HerdError).code).toBe('queue_full')
    expect((err as HerdError).retryAfterSeconds).toBeGreaterThanOrEqual(1)
    held.release()
    ;(await queued).release()
  })

  it('times out a queued request with queue_timeout and a Retry-After', async () => {
    h = await harness()
    const p = h.profile({ maxWaitInQueueMs: 100 })
    const held = await h.manager.acquire(p, { signal: signal() })
    const started = Date.now()
    const err = await rejectionOf(h.manager.acquire(p, { signal: signal() }))
    expect((err as HerdError).code).toBe('queue_timeout')
    expect((err as HerdError).retryAfterSeconds).toBeGreaterThanOrEqual(1)
    expect(Date.now() - started).toBeGreaterThanOrEqual(90)
    expect(h.manager.load()[0]?.queueLength).toBe(0)
    held.release()
  })

  it('does not time out a cold request while its instance is still starting', async () => {
    h = await harness({ env: { FAKE_START_DELAY_MS: 300 } })
    const p = h.profile({ maxWaitInQueueMs: 50 })
    const lease = await h.manager.acquire(p, { signal: signal() })
    lease.release()
  })

  it('removes an aborted request from the queue and rejects it with the signal reason', async () => {
    h = await harness()
    const p = h.profile()
    const held = await h.manager.acquire(p, { signal: signal() })
    const ctl = new AbortController()
    const queued = h.manager.acquire(p, { signal: ctl.signal })
    await waitFor(() => h.manager.load()[0]?.queueLength === 1)
    const reason = new Error('client went away')
    ctl.abort(reason)
    expect(await rejectionOf(queued)).toBe(reason)
    expect(h.manager.load()[0]?.queueLength).toBe(0)
    held.release()
    const next = await h.manager.acquire(p, { signal: signal() })
    expect(next.instanceId).toBe(held.instanceId)
    next.release()
  })

  it('rejects at once when the signal is already aborted', async () => {
    h = await harness()
    const ctl = new AbortController()
    ctl.abort(new Error('gone'))
    expect(await rejectionOf(h.manager.acquire(h.profile(), { signal: ctl.signal }))).toMatchObject({ message: 'gone' })
    expect(h.manager.counters().spawns).toBe(0)
  })

  it('fails with model_file_missing naming the path, and spawns nothing', async () => {
    h = await harness()
    const missing = join(h.dir, 'nope.gguf')
    const err = await rejectionOf(h.manager.acquire(h.profile({ modelPath: missing }), { signal: signal() }))
    expect(err).toMatchObject({ code: 'model_file_missing' })
    expect((err as Error).message).toContain(missing)
    expect(h.pids).toEqual([])
    expect(h.manager.snapshot()).toEqual([])
  })

  it('learns tokens per second from release stats', async () => {
    h = await harness()
    const p = h.profile()
    const use = async (stats: { tokens?: number; ms?: number }): Promise<void> => (await h.manager.acquire(p, { signal: signal() })).release(stats)
    await use({ tokens: 100, ms: 1_000 })
    expect(h.manager.load()[0]?.tokensPerSecond).toBeCloseTo(100)
    await use({ ms: 500 })
    expect(h.manager.load()[0]?.tokensPerSecond).toBeCloseTo(100)
    await use({ tokens: 200, ms: 1_000 })
    expect(h.manager.load()[0]?.tokensPerSecond).toBeCloseTo(130)
  })

  it('hands out leases whose baseUrl serves chat completions', async () => {
    h = await harness()
    const lease: Lease = await h.manager.acquire(h.profile(), { signal: signal() })
    const res = await fetch(`${lease.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 }),
    })
    const body = (await res.json()) as { choices: { message: { content: string } }[]; timings: { predicted_n: number } }
    expect(body.timings.predicted_n).toBe(3)
    expect(body.choices[0]?.message.content).toBe('Hello world,')
    lease.release()
    lease.release()
    expect(h.manager.load()[0]?.slotsBusy).toBe(0)
  })

  it('refuses with draining before start', async () => {
    h = await harness({ start: false })
    expect(await rejectionOf(h.manager.acquire(h.profile(), { signal: signal() }))).toMatchObject({ code: 'draining' })
  })
})
