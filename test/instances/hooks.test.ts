import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ProfileSpec } from '../../src/config/types.ts'
import { HerdError } from '../../src/errors/index.ts'
import { instanceManager, type InstanceManager } from '../../src/instances/index.ts'
import { alive } from '../../src/instances/pidfile.ts'
import { harness, logger, rejectionOf, signal, type Harness } from './helpers.ts'

describe('InstanceManager hardware hooks and eviction', () => {
  let h: Harness
  let m: InstanceManager | undefined
  afterEach(async () => {
    await m?.stop()
    m = undefined
    await h.close()
  })

  it('asks fit before each spawn and passes its no_capacity refusal through', async () => {
    h = await harness({ start: false })
    const asked: string[] = []
    m = instanceManager({ healthIntervalMs: 10 })({
      logger,
      binary: () => h.binary,
      runtimeDir: join(h.dir, 'run'),
      fit: async (p: ProfileSpec) => {
        asked.push(p.id)
        if (p.id === 'big:default') throw new HerdError('no_capacity', 'big:default needs 80 GB')
      },
    })
    await m.start()
    expect(await rejectionOf(m.acquire(h.profile({ id: 'big:default' }), { signal: signal() }))).toMatchObject({
      code: 'no_capacity',
      message: 'big:default needs 80 GB',
    })
    const lease = await m.acquire(h.profile(), { signal: signal() })
    expect(asked).toEqual(['big:default', 'tiny:default'])
    lease.release()
  })

  it('reports each process start and exit to the hooks', async () => {
    h = await harness({ start: false })
    const seen: string[] = []
    const pids: number[] = []
    m = instanceManager({ healthIntervalMs: 10 })({
      logger,
      binary: () => h.binary,
      runtimeDir: join(h.dir, 'run'),
      onProcessStarted: (p) => (seen.push(`started ${p.instanceId}`), pids.push(p.pid)),
      onProcessExited: (p) => seen.push(`exited ${p.instanceId} expected=${String(p.expected)}`),
    })
    await m.start()
    const lease = await m.acquire(h.profile(), { signal: signal() })
    lease.release()
    await m.stop()
    expect(seen).toEqual([`started ${lease.instanceId}`, `exited ${lease.instanceId} expected=true`])
    expect(pids.filter(alive)).toEqual([])
  })

  it('evicts the least recently used idle instance, never a busy one', async () => {
    h = await harness()
    const a = await h.manager.acquire(h.profile({ id: 'a:default' }), { signal: signal() })
    const b = await h.manager.acquire(h.profile({ id: 'b:default' }), { signal: signal() })
    const c = await h.manager.acquire(h.profile({ id: 'c:default' }), { signal: signal() })
    b.release()
    a.release()
    expect(await h.manager.evictIdle({ signal: signal() })).toBe(b.instanceId)
    expect(await h.manager.evictIdle({ signal: signal(), exceptProfileId: 'a:default' })).toBeUndefined()
    expect(await h.manager.evictIdle({ signal: signal() })).toBe(a.instanceId)
    expect(await h.manager.evictIdle({ signal: signal() })).toBeUndefined()
    expect(h.manager.snapshot().map((s) => s.id)).toEqual([c.instanceId])
    c.release()
  })
})
