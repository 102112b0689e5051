import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { FitOptions } from '../../src/instances/index.ts'
import { instanceManager, type InstanceManager } from '../../src/instances/index.ts'
import { harness, logger, rejectionOf, signal, type Harness } from './helpers.ts'

describe('a mesh-wide deadline on a request', () => {
  let h: Harness
  let m: InstanceManager | undefined
  afterEach(async () => {
    await m?.stop()
    m = undefined
    await h.close()
  })

  it('ends its wait in line at the deadline, long before max_wait_in_queue_ms', async () => {
    h = await harness()
    const p = h.profile({ maxWaitInQueueMs: 60_000 })
    const lease = await h.manager.acquire(p, { signal: signal() })
    const started = Date.now()
    const err = await rejectionOf(h.manager.acquire(p, { signal: signal(), deadline: Date.now() + 50 }))
    expect(err).toMatchObject({ code: 'queue_timeout' })
    expect(Date.now() - started).toBeLessThan(30_000)
    lease.release()
  })

  it('bounds the admission of the spawn it waits for, and names the instance asking', async () => {
    h = await harness({ start: false })
    const asked: FitOptions[] = []
    m = instanceManager({ healthIntervalMs: 10 })({ logger, binary: () => h.binary, runtimeDir: join(h.dir, 'run'), fit: async (_p, o) => void asked.push(o) })
    await m.start()
    const deadline = Date.now() + 20_000
    const lease = await m.acquire(h.profile({ maxWaitInQueueMs: 60_000 }), { signal: signal(), deadline })
    expect(asked).toMatchObject([{ instanceId: lease.instanceId }])
    // The waiter's own bound: the deadline, not the profile's minute.
    expect(asked[0]!.deadline).toBeGreaterThanOrEqual(deadline - 5)
    expect(asked[0]!.deadline).toBeLessThanOrEqual(deadline + 5)
    lease.release()
  })
})
