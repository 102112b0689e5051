import { afterEach, describe, expect, it } from 'vitest'
import { harness, nextEvent, rejectionOf, signal, waitFor, type Harness } from './helpers.ts'

describe('InstanceManager.setProfiles (hot reload)', () => {
  let h: Harness
  afterEach(async () => {
    await h.close()
  })

  it('reports load for every profile, including ones with no instance', async () => {
    h = await harness()
    h.manager.setProfiles([h.profile({ id: 'a:default' }), h.profile({ id: 'b:default' })])
    expect(h.manager.load().map((l) => [l.profileId, l.instances])).toEqual([
      ['a:default', 0],
      ['b:default', 0],
    ])
  })

  it('drains a removed profile: no new leases, its instance stops once idle', async () => {
    h = await harness()
    const p = h.profile()
    h.manager.setProfiles([p])
    const lease = await h.manager.acquire(p, { signal: signal() })
    const queued = h.manager.acquire(p, { signal: signal() })
    h.manager.setProfiles([])
    expect(await rejectionOf(queued)).toMatchObject({ code: 'draining' })
    expect(await rejectionOf(h.manager.acquire(p, { signal: signal() }))).toMatchObject({ code: 'draining' })
    expect(h.manager.snapshot()[0]?.state.status).toBe('ready')
    expect(h.manager.load()).toEqual([])
    const exited = nextEvent(h.manager, 'instance:exited')
    lease.release()
    expect(await exited).toMatchObject({ instanceId: lease.instanceId, expected: true })
    await waitFor(() => h.manager.snapshot().length === 0)
  })

  it('starts new instances for changed args while the old ones drain', async () => {
    h = await harness()
    const v1 = h.profile({ args: ['-np', '1'] })
    const v2 = h.profile({ args: ['-np', '2'] })
    h.manager.setProfiles([v1])
    const old = await h.manager.acquire(v1, { signal: signal() })
    const waiting = h.manager.acquire(v1, { signal: signal() })
    h.manager.setProfiles([v2])
    // The waiter moves to the new launch rather than waiting for the old one.
    const fresh = await waiting
    expect(fresh.instanceId).not.toBe(old.instanceId)
    expect(h.manager.snapshot().find((s) => s.id === fresh.instanceId)?.state).toMatchObject({ slots: 2 })
    const exited = nextEvent(h.manager, 'instance:exited')
    old.release()
    expect(await exited).toMatchObject({ instanceId: old.instanceId, expected: true })
    const again = await h.manager.acquire(v1, { signal: signal() })
    expect(again.instanceId).toBe(fresh.instanceId)
    fresh.release()
    again.release()
  })

  it('applies new limits to a profile whose launch did not change', async () => {
    h = await harness()
    const p = h.profile({ maxQueueSize: 0 })
    h.manager.setProfiles([p])
    const lease = await h.manager.acquire(p, { signal: signal() })
    expect(await rejectionOf(h.manager.acquire(p, { signal: signal() }))).toMatchObject({ code: 'queue_full' })
    h.manager.setProfiles([{ ...p, maxQueueSize: 1 }])
    const queued = h.manager.acquire(p, { signal: signal() })
    lease.release()
    ;(await queued).release()
  })
})
