/**
 * What a waiting request is told (AcquireOptions.onWaiting), and the two lines a cold start
 * logs: when it begins (model, placement, estimate) and when it is ready (how long it took).
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { InstanceManager, type QueueWait } from '../../src/instances/index.ts'
import { capturingLogger } from '../api/helpers.ts'
import { harness, signal, waitFor, type Harness } from './helpers.ts'

describe('a request waiting for a slot', () => {
  let h: Harness
  afterEach(async () => {
    await h.close()
  })

  it('is told it waits for a load while its instance starts, and nothing once served', async () => {
    h = await harness({ env: { FAKE_START_DELAY_MS: 300 } })
    const p = h.profile()
    let state: (() => QueueWait) | undefined
    const leased = h.manager.acquire(p, { signal: signal(), onWaiting: (s) => (state = s) })
    expect(state?.()).toEqual({ kind: 'loading' })
    const lease = await leased
    expect(state?.()).toEqual({ kind: 'waiting' })
    lease.release()
  })

  it('is told its place in line when every slot is busy, and it moves up', async () => {
    h = await harness()
    const p = h.profile({ args: ['-np', '1'], maxQueueSize: 4 })
    const held = await h.manager.acquire(p, { signal: signal() })
    const states: (() => QueueWait)[] = []
    const second = h.manager.acquire(p, { signal: signal(), onWaiting: (s) => states.push(s) })
    const third = h.manager.acquire(p, { signal: signal(), onWaiting: (s) => states.push(s) })
    expect(states.map((s) => s())).toEqual([
      { kind: 'queued', ahead: 0 },
      { kind: 'queued', ahead: 1 },
    ])
    held.release()
    const b = await second
    expect(states[1]?.()).toEqual({ kind: 'queued', ahead: 0 })
    b.release()
    ;(await third).release()
  })

  it('served at once, it is told nothing', async () => {
    h = await harness()
    const p = h.profile()
    ;(await h.manager.acquire(p, { signal: signal() })).release()
    let told = false
    const lease = await h.manager.acquire(p, { signal: signal(), onWaiting: () => (told = true) })
    expect(told).toBe(false)
    lease.release()
  })
})

describe('a cold start', () => {
  let h: Harness
  let m: InstanceManager | undefined
  afterEach(async () => {
    await m?.stop()
    m = undefined
    await h.close()
  })

  it('logs when it begins, with model, placement and estimate, and when it is ready, with the time it took', async () => {
    h = await harness({ start: false, env: { FAKE_START_DELAY_MS: 100 } })
    const { logger, lines } = capturingLogger()
    m = new InstanceManager(
      {
        logger,
        binary: () => h.binary,
        runtimeDir: join(h.dir, 'run'),
        fit: async () => ({ gpus: [0, 1], estimate: { vramMb: 4096, sysmemMb: 512 } }),
      },
      { healthIntervalMs: 10, setpriv: false },
    )
    await m.start()
    const lease = await m.acquire(h.profile(), { signal: signal() })
    lease.release()
    await waitFor(() => lines.some((l) => l['msg'] === 'llama-server ready'), 2_000, 'the ready line')
    const begin = lines.filter((l) => l['msg'] === 'starting llama-server')
    const ready = lines.filter((l) => l['msg'] === 'llama-server ready')
    expect(begin).toMatchObject([{ level: 30, model: 'tiny:default', placement: 'gpu 0,1', estimate_vram_mb: 4096, estimate_sysmem_mb: 512 }])
    expect(ready).toMatchObject([{ level: 30, model: 'tiny:default', instance: begin[0]?.['instance'] }])
    expect(ready[0]?.['spawnMs']).toBeGreaterThanOrEqual(100)
  })

  it('logs a CPU placement as cpu', async () => {
    h = await harness({ start: false })
    const { logger, lines } = capturingLogger()
    m = new InstanceManager(
      { logger, binary: () => h.binary, runtimeDir: join(h.dir, 'run'), fit: async () => ({ gpus: [] }) },
      { healthIntervalMs: 10, setpriv: false },
    )
    await m.start()
    ;(await m.acquire(h.profile(), { signal: signal() })).release()
    expect(lines.find((l) => l['msg'] === 'starting llama-server')).toMatchObject({ placement: 'cpu' })
  })
})
