/**
 * Admission with the real pieces around it: the supervisor spawning fake llama-servers,
 * the hardware component sampling a fake nvidia-smi that plays the driver (every live
 * llama-server of this test shows 3000 MiB used from the moment its process exists), the
 * planner and node resources. Several cold starts at once on a GPU with room for one.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ProfileSpec } from '../../src/config/types.ts'
import { admission, NodeResources } from '../../src/hardware/index.ts'
import { InstanceManager } from '../../src/instances/index.ts'
import { createFakeNvidiaSmi, fakeGpu, type FakeNvidiaSmi } from '../fixtures/fake-nvidia-smi.ts'
import { makeFakeLlamaBinary, makeFakeModel } from '../fixtures/fake-llama.ts'
import { logger, profile } from '../instances/helpers.ts'

const TOTAL_MB = 8_000
const OTHER_MB = 2_000
const NEED_MB = 3_000
/** Free after the 5 % margin: room for one instance, not two. */
const CAPACITY_MB = TOTAL_MB - OTHER_MB - 400

describe('admission on a live node', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })

  async function node(): Promise<{ dir: string; manager: InstanceManager; resources: NodeResources; smi: FakeNvidiaSmi; profiles: ProfileSpec[] }> {
    const dir = await mkdtemp(join(tmpdir(), 'herd-admission-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const smi = await createFakeNvidiaSmi({ gpus: [fakeGpu(0, TOTAL_MB, OTHER_MB)], track: { cmdlineIncludes: dir, usedMemoryMb: NEED_MB } })
    cleanups.push(() => smi.cleanup())
    const binary = await makeFakeLlamaBinary(dir)
    const model = await makeFakeModel(dir)
    // eslint-disable-next-line prefer-const -- assigned below, after the closures that read it exist
    let manager: InstanceManager | undefined
    const resources = new NodeResources(
      { logger, instances: () => manager?.snapshot() ?? [], fitParamsPath: () => null },
      { home: dir, resources: { nvidia_smi: smi.path, sample_interval_ms: 100, max_vram_mb: null, max_sysmem_mb: null } },
    )
    const hardware = resources.hardware
    manager = new InstanceManager(
      {
        logger,
        binary: () => binary,
        runtimeDir: join(dir, 'run'),
        fit: admission({
          logger,
          assess: (p, o) => resources.planner.assess(p, o),
          evictIdle: (o) => manager!.evictIdle(o),
          resample: (o) => hardware.sample(o).then(() => {}),
          reserve: (r) => resources.reserve(r),
          pollMs: 20,
        }),
        onProcessStarted: (p) => hardware.watchProcess(p.pid, p.launchHash, p.profileId),
        onProcessExited: (p) => hardware.unwatchProcess(p.pid),
      },
      { killGraceMs: 1_000, healthIntervalMs: 10 },
    )
    await resources.start()
    cleanups.push(() => resources.stop())
    await manager.start()
    cleanups.push(() => manager.stop())
    const profiles = ['a', 'b', 'c'].map((m) =>
      profile({
        id: `${m}:default`,
        model: m,
        modelPath: model,
        args: ['-np', '1', '--seed', m],
        estimatedVramMb: NEED_MB,
        estimatedSysmemMb: 64,
        maxWaitInQueueMs: 20_000,
      }),
    )
    return { dir, manager, resources, smi, profiles }
  }

  it('starts one cold instance at a time when the GPU has room for one: the others wait their turn', async () => {
    const { manager, resources, profiles } = await node()
    const hardware = resources.hardware
    // Every sample the hardware takes, and every change of the supervisor, is checked.
    let mostUsedMb = 0
    hardware.on('resources:changed', (s) => (mostUsedMb = Math.max(mostUsedMb, s.gpus[0]?.usedMb ?? 0)))
    let mostLive = 0
    // A process that exists holds memory, whatever state herd has it in.
    const watch = (): void => void (mostLive = Math.max(mostLive, manager.snapshot().filter((i) => i.pid !== undefined && i.state.status !== 'exited').length))
    manager.on('load:changed', watch)
    const poll = setInterval(watch, 2)
    try {
      const order: string[] = []
      await Promise.all(
        profiles.map(async (p) => {
          const lease = await manager.acquire(p, { signal: AbortSignal.timeout(30_000) })
          order.push(p.id)
          lease.release()
        }),
      )
      expect(order.sort()).toEqual(['a:default', 'b:default', 'c:default'])
    } finally {
      clearInterval(poll)
    }
    expect(manager.counters().spawns).toBe(3)
    expect(mostLive).toBe(1)
    expect(mostLive * NEED_MB).toBeLessThanOrEqual(CAPACITY_MB)
    // The driver saw one instance at a time, never two.
    expect(mostUsedMb).toBe(OTHER_MB + NEED_MB)
  }, 40_000)

  it('reserves for an admitted instance until it is loaded and measured, and gossips the room that is left', async () => {
    const { manager, resources, profiles } = await node()
    const lease = await manager.acquire(profiles[0]!, { signal: AbortSignal.timeout(10_000) })
    // Ready; once a sample begun after that has seen its 3000 MiB, the device's figure is the truth.
    await resources.hardware.sample()
    await resources.hardware.sample()
    expect(resources.held()).toMatchObject([{ vramMb: NEED_MB }])
    expect(resources.reservations.size).toBe(0)
    expect(resources.state().vramBudgetFreeMb).toBe(CAPACITY_MB - NEED_MB)
    await resources.refresh(profiles)
    // b and c fit once a's instance (herd's own) is idle and evicted: not now, but worth waiting for.
    expect(resources.fit(profiles[1]!)).toMatchObject({ now: false, afterEviction: true })
    lease.release()
  }, 20_000)
})
