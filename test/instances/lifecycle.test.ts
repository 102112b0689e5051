import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { HerdError } from '../../src/errors/index.ts'
import { InstanceManager } from '../../src/instances/index.ts'
import { alive } from '../../src/instances/pidfile.ts'
import { harness, logger, nextEvent, rejectionOf, signal, waitFor, type Harness } from './helpers.ts'

describe('InstanceManager instance lifecycle', () => {
  let h: Harness
  afterEach(async () => {
    await h.close()
  })

  it('stops an instance that stayed idle for idle_timeout', async () => {
    h = await harness()
    const p = h.profile({ idleTimeoutMs: 100 })
    const lease = await h.manager.acquire(p, { signal: signal() })
    const exited = nextEvent(h.manager, 'instance:exited')
    const releasedAt = Date.now()
    lease.release()
    expect(await exited).toMatchObject({ instanceId: lease.instanceId, expected: true })
    expect(Date.now() - releasedAt).toBeGreaterThanOrEqual(90)
    expect(h.manager.snapshot()).toEqual([])
    expect(h.manager.counters().idleStops).toBe(1)
  })

  it('resets the idle countdown when a lease is taken and released', async () => {
    h = await harness()
    const p = h.profile({ idleTimeoutMs: 150 })
    ;(await h.manager.acquire(p, { signal: signal() })).release()
    const second = await h.manager.acquire(p, { signal: signal() })
    const exited = nextEvent(h.manager, 'instance:exited')
    const releasedAt = Date.now()
    second.release()
    await exited
    expect(Date.now() - releasedAt).toBeGreaterThanOrEqual(140)
  })

  it('aborts lease.exited when the process is killed, and the next acquire spawns a fresh instance', async () => {
    h = await harness()
    const p = h.profile()
    const lease = await h.manager.acquire(p, { signal: signal() })
    const pid = h.manager.snapshot()[0]?.pid ?? 0
    const exited = nextEvent(h.manager, 'instance:exited')
    process.kill(pid, 'SIGKILL')
    expect(await exited).toMatchObject({ instanceId: lease.instanceId, expected: false, signal: 'SIGKILL' })
    expect(lease.exited.aborted).toBe(true)
    expect(lease.exited.reason).toMatchObject({ code: 'upstream_error' })
    expect(h.manager.load()[0]).toMatchObject({ instances: 0, slotsTotal: 0 })
    lease.release()
    const next = await h.manager.acquire(p, { signal: signal() })
    expect(next.instanceId).not.toBe(lease.instanceId)
    expect(h.manager.counters()).toMatchObject({ spawns: 2, unexpectedExits: 1 })
    next.release()
  })

  it('serves the waiters of a crashed instance from a fresh one', async () => {
    h = await harness()
    const p = h.profile()
    const lease = await h.manager.acquire(p, { signal: signal() })
    const waiting = h.manager.acquire(p, { signal: signal() })
    process.kill(h.manager.snapshot()[0]?.pid ?? 0, 'SIGKILL')
    const fresh = await waiting
    expect(fresh.instanceId).not.toBe(lease.instanceId)
    fresh.release()
  })

  it('fails every waiter of a spawn that exits early with spawn_failed quoting the log', async () => {
    h = await harness({ env: { FAKE_EXIT_AT_START: 1 } })
    const p = h.profile({ args: ['-np', '2'] })
    const errs = await Promise.all([1, 2].map(() => rejectionOf(h.manager.acquire(p, { signal: signal() }))))
    for (const err of errs) {
      expect(err).toMatchObject({ code: 'spawn_failed' })
      expect((err as HerdError).message).toContain('error loading model: fake failure requested')
      expect((err as HerdError).message).toMatch(/exited \(code 1\)/)
    }
    expect(h.manager.counters()).toMatchObject({ spawns: 1, spawnFailures: 1 })
    expect(h.manager.logs()[0]?.lines.join('\n')).toContain('exiting due to model loading error')
  })

  it('fails with spawn_failed when the server is not ready within the startup timeout', async () => {
    h = await harness({ env: { FAKE_START_DELAY_MS: 10_000 } })
    // Long enough for Node to boot the fake on a busy machine, so its log has something to quote.
    const p = h.profile({ startupTimeoutMs: 1_500 })
    const started = Date.now()
    const err = await rejectionOf(h.manager.acquire(p, { signal: signal() }))
    expect(err).toMatchObject({ code: 'spawn_failed' })
    expect((err as Error).message).toContain('not ready within 1500 ms')
    expect((err as Error).message).toContain('main: loading model')
    expect(Date.now() - started).toBeLessThan(4_000)
    expect(h.pids.filter(alive)).toEqual([])
  })

  it('fails with spawn_failed when the binary does not exist', async () => {
    h = await harness()
    const m = new InstanceManager({ logger, binary: () => join(h.dir, 'missing-binary'), runtimeDir: join(h.dir, 'run2') }, { setpriv: false })
    await m.start()
    const err = await rejectionOf(m.acquire(h.profile(), { signal: signal() }))
    expect(err).toMatchObject({ code: 'spawn_failed' })
    expect((err as Error).message).toContain('ENOENT')
    await m.stop()
  })

  it('retries on another port when the server finds its port taken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herd-instances-'))
    h = await harness({ env: { FAKE_BIND_FAIL_ONCE: join(dir, 'bind-failed-once') }, dir })
    const lease = await h.manager.acquire(h.profile(), { signal: signal() })
    expect(h.pids).toHaveLength(2)
    expect(h.manager.logs(lease.instanceId)[0]?.lines.join('\n')).toContain('retrying on another')
    lease.release()
  })

  it('reads slots from /props when /slots is disabled', async () => {
    h = await harness()
    const lease = await h.manager.acquire(h.profile({ args: ['-np', '3', '-c', '3072', '--no-slots'] }), { signal: signal() })
    expect(h.manager.snapshot()[0]?.state).toMatchObject({ status: 'ready', slots: 3, nCtx: 1024 })
    lease.release()
  })

  it('prewarms one instance and waits until it is ready', async () => {
    h = await harness({ env: { FAKE_START_DELAY_MS: 100 } })
    const p = h.profile()
    const ready = nextEvent(h.manager, 'instance:ready')
    await Promise.all([h.manager.prewarm(p, { signal: signal() }), h.manager.prewarm(p, { signal: signal() })])
    expect((await ready).spawnMs).toBeGreaterThanOrEqual(100)
    await h.manager.prewarm(p, { signal: signal() })
    expect(h.manager.counters().spawns).toBe(1)
    expect(h.manager.load()[0]).toMatchObject({ readyInstances: 1, slotsBusy: 0 })
  })

  it('unloads idle instances now and busy ones when their lease returns', async () => {
    h = await harness()
    const a = h.profile({ id: 'a:default' })
    const b = h.profile({ id: 'b:default' })
    ;(await h.manager.acquire(a, { signal: signal() })).release()
    const busy = await h.manager.acquire(b, { signal: signal() })
    expect(await h.manager.unload(undefined, { signal: signal() })).toBe(2)
    expect(h.manager.snapshot().map((s) => [s.profileId, s.state.status])).toEqual([['b:default', 'ready']])
    const exited = nextEvent(h.manager, 'instance:exited')
    busy.release()
    expect(await exited).toMatchObject({ profileId: 'b:default', expected: true })
    await waitFor(() => h.manager.snapshot().length === 0)
  })

  it('spawns a fresh instance for a request that arrives while the old one drains after unload', async () => {
    h = await harness()
    const p = h.profile()
    const busy = await h.manager.acquire(p, { signal: signal() })
    await h.manager.unload(p.id)
    const fresh = await h.manager.acquire(p, { signal: signal() })
    expect(fresh.instanceId).not.toBe(busy.instanceId)
    busy.release()
    fresh.release()
  })
})
