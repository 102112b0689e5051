import { getEventListeners } from 'node:events'
import { describe, expect, it } from 'vitest'
import type { ProfileSpec } from '../../src/config/types.ts'
import { admission, planFit, type AdmissionDeps, type HeldInstance, type Requirement, type Reservation } from '../../src/hardware/index.ts'
import type { GpuState } from '../../src/mesh/types.ts'
import { captureLogger } from './logger.ts'

const profile = (id: string, over: Partial<ProfileSpec> = {}): ProfileSpec => ({
  id,
  model: id.split(':')[0] ?? id,
  profile: 'default',
  description: undefined,
  modelPath: undefined,
  args: [],
  capabilities: { completion: true, embeddings: false, rerank: false },
  idleTimeoutMs: 1000,
  startupTimeoutMs: 1000,
  maxInstances: 1,
  maxQueueSize: 1,
  maxWaitInQueueMs: 60_000,
  estimatedVramMb: undefined,
  estimatedSysmemMb: undefined,
  launchHash: id,
  ...over,
})
const need: Requirement = { vramMb: 3_000, sysmemMb: 100, vramSource: 'cookbook', sysmemSource: 'cookbook' }

/**
 * A node for admission to look at: one 8000 MiB GPU whose used memory the test sets, herd's
 * instances (as the planner sees them) and the reservations admission made, planned with
 * the real planner arithmetic.
 */
function node(o: { otherMb: number; held?: HeldInstance[] }) {
  const state = { otherMb: o.otherMb, held: o.held ?? [] }
  const reservations: Reservation[] = []
  const log: string[] = []
  const gpus = (): GpuState[] => {
    const usedMb = state.otherMb + state.held.reduce((a, h) => a + h.vramMb, 0)
    return [{ index: 0, uuid: 'GPU-0', name: 'RTX', totalMb: 8_000, usedMb, freeMb: 8_000 - usedMb }]
  }
  const reservedAsHeld = (): HeldInstance[] =>
    reservations.map((r) => ({
      instanceId: r.instanceId,
      gpus: r.gpus,
      vramMb: r.vramMb,
      sysmemMb: r.sysmemMb,
      reservedVramMb: r.vramMb,
      reservedSysmemMb: r.sysmemMb,
      idle: false,
      lastUsedAt: 0,
    }))
  const deps: AdmissionDeps = {
    logger: captureLogger().logger,
    assess: async () => {
      log.push('assess')
      const plan = planFit({
        gpus: gpus(),
        sysmem: { totalMb: 64_000, freeMb: 60_000 },
        limits: { maxVramMb: null, maxSysmemMb: null },
        held: [...state.held, ...reservedAsHeld()],
        requirement: need,
      })
      return { plan, requirement: need }
    },
    evictIdle: async ({ instanceIds }) => {
      const victim = state.held.find((h) => h.idle && instanceIds?.includes(h.instanceId))
      if (!victim) return undefined
      log.push(`evict ${victim.instanceId}`)
      state.held = state.held.filter((h) => h !== victim)
      return victim.instanceId
    },
    resample: async () => void log.push('resample'),
    reserve: (r) => {
      log.push(`reserve ${r.instanceId}`)
      reservations.push(r)
    },
    pollMs: 5,
  }
  return { state, reservations, log, deps }
}

const busy = (instanceId: string, vramMb: number): HeldInstance => ({ instanceId, gpus: [0], vramMb, sysmemMb: 100, idle: false, lastUsedAt: 1 })

describe('admission', () => {
  it('refuses at once with no_capacity, naming other processes, when they hold the GPU', async () => {
    const n = node({ otherMb: 7_000 })
    // A wait would show: one poll takes a minute.
    const fit = admission({ ...n.deps, pollMs: 60_000 })
    const err = await fit(profile('m:default'), { signal: new AbortController().signal, instanceId: 'm#1' }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'no_capacity', retryAfterSeconds: 5 })
    expect((err as Error).message).toContain('other processes hold the memory')
    expect((err as Error).message).toContain('GPU 0: other processes 7000 MiB, herd instances 0 MiB')
    expect(n.log).toEqual(['assess'])
  })

  it('waits while a busy herd instance holds the memory, and admits once it goes idle', async () => {
    const n = node({ otherMb: 2_000, held: [busy('b#1', 5_000)] })
    let looks = 0
    const fit = admission({
      ...n.deps,
      resample: async () => {
        // Three looks later the busy instance finishes its request.
        if (++looks === 3) n.state.held[0]!.idle = true
      },
    })
    const placement = await fit(profile('m:default'), { signal: new AbortController().signal, instanceId: 'm#1' })
    expect(placement).toMatchObject({ gpus: [0] })
    expect(n.log).toContain('evict b#1')
    expect(n.reservations).toEqual([{ instanceId: 'm#1', profileId: 'm:default', gpus: [0], vramMb: 3_000, sysmemMb: 100 }])
  })

  it('gives up with no_capacity at the deadline it is given, long before the profile’s own bound', async () => {
    const n = node({ otherMb: 2_000, held: [busy('b#1', 5_000)] })
    const fit = admission(n.deps)
    const started = Date.now()
    const err = await fit(profile('m:default'), { signal: new AbortController().signal, instanceId: 'm#1', deadline: Date.now() + 50 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'no_capacity' })
    expect((err as Error).message).toContain("herd's own instances hold it")
    expect(Date.now() - started).toBeLessThan(30_000)
  })

  it('makes one decision at a time: the second cold start sees the first one’s reservation and waits', async () => {
    const n = node({ otherMb: 2_000 })
    let inFlight = 0
    let most = 0
    const assess = n.deps.assess
    const fit = admission({
      ...n.deps,
      assess: async (p, o) => {
        most = Math.max(most, ++inFlight)
        // Give a concurrent decision every chance to interleave.
        await new Promise((resolve) => setImmediate(resolve))
        try {
          return await assess(p, o)
        } finally {
          inFlight--
        }
      },
    })
    const signal = new AbortController().signal
    const first = fit(profile('a:default'), { signal, instanceId: 'a#1' })
    let secondDone = false
    const second = fit(profile('b:default'), { signal, instanceId: 'b#1' }).finally(() => (secondDone = true))
    await first
    // The second decision came after the reservation, on a fresh sample, and found no room.
    while (n.log.filter((l) => l === 'assess').length < 3) await new Promise((resolve) => setImmediate(resolve))
    expect(n.log.slice(0, 4)).toEqual(['assess', 'reserve a#1', 'resample', 'assess'])
    expect(secondDone).toBe(false)
    expect(n.reservations.map((r) => r.instanceId)).toEqual(['a#1'])
    // The first instance loaded and its usage now shows as herd's; then it goes idle.
    n.reservations.splice(0)
    n.state.held.push({ ...busy('a#1', 3_000), idle: true })
    await second
    expect(n.log).toContain('evict a#1')
    expect(n.reservations.map((r) => r.instanceId)).toEqual(['b#1'])
    expect(most).toBe(1)
  })

  it('leaves no abort listener on the caller’s signal while it polls', async () => {
    const n = node({ otherMb: 2_000, held: [busy('b#1', 5_000)] })
    const controller = new AbortController()
    const counts: number[] = []
    const fit = admission({
      ...n.deps,
      resample: async () => {
        counts.push(getEventListeners(controller.signal, 'abort').length)
        if (counts.length === 8) n.state.held[0]!.idle = true
      },
    })
    await fit(profile('m:default'), { signal: controller.signal, instanceId: 'm#1' })
    expect(counts.length).toBeGreaterThanOrEqual(8)
    expect(Math.max(...counts)).toBe(0)
  })

  it('stops waiting when the caller gives up', async () => {
    const n = node({ otherMb: 2_000, held: [busy('b#1', 5_000)] })
    const controller = new AbortController()
    const fit = admission({ ...n.deps, resample: async () => controller.abort(new Error('client left')) })
    await expect(fit(profile('m:default'), { signal: controller.signal, instanceId: 'm#1' })).rejects.toThrow('client left')
    expect(n.reservations).toEqual([])
  })
})
