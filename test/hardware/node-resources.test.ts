/**
 * NodeResources re-plans the fit answers when herd's instances change, not on every slot
 * a request takes or frees: those changed nothing the answers read, and at 16 requests in
 * flight re-planning on each was ~8 % of a serving node's CPU (bench:mesh profile).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { LOAD_REPLAN_MS, NodeResources, planFit, type HeldInstance, type PlanInput } from '../../src/hardware/index.ts'
import type { InstanceSnapshot } from '../../src/instances/index.ts'
import type { GpuState } from '../../src/mesh/types.ts'
import { logger, profile } from '../instances/helpers.ts'

const instance = (id: string, over: Partial<InstanceSnapshot> = {}): InstanceSnapshot => ({
  id,
  profileId: 'a:default',
  pid: 1000,
  port: 9000,
  state: { status: 'ready', port: 9000, slots: 4 } as InstanceSnapshot['state'],
  busy: 0,
  lastUsedAt: 1,
  startedAt: 1,
  gpus: [],
  ...over,
})

describe('NodeResources: re-planning after load changes', () => {
  let dir: string
  let resources: NodeResources
  let instances: InstanceSnapshot[]
  let replanned: number
  const profiles = [
    profile({ id: 'a:default', model: 'a', modelPath: undefined, estimatedSysmemMb: 100 }),
    profile({ id: 'b:default', model: 'b', modelPath: undefined, estimatedSysmemMb: 100 }),
  ]

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-node-resources-'))
    instances = [instance('a-1')]
    replanned = 0
    resources = new NodeResources(
      { logger, instances: () => instances, fitParamsPath: () => null, onReplanned: () => replanned++ },
      { home: dir, resources: { nvidia_smi: join(dir, 'no-nvidia-smi'), sample_interval_ms: 1000, max_vram_mb: null, max_sysmem_mb: null } },
    )
    await resources.refresh(profiles)
    vi.useFakeTimers()
  })

  afterEach(async () => {
    vi.useRealTimers()
    await resources.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('plans nothing for slots taken and freed on the instances it planned with', async () => {
    const assess = vi.spyOn(resources.planner, 'assess')
    for (let n = 0; n < 100; n++) {
      instances = [instance('a-1', { busy: n % 3, lastUsedAt: n })]
      resources.loadChanged()
      await vi.advanceTimersByTimeAsync(LOAD_REPLAN_MS / 4)
    }
    await vi.advanceTimersByTimeAsync(LOAD_REPLAN_MS * 2)
    expect(assess).not.toHaveBeenCalled()
    expect(replanned).toBe(0)
  })

  it('plans every profile once for a burst of changes that started or ended an instance, and says so', async () => {
    const assess = vi.spyOn(resources.planner, 'assess')
    instances = [instance('a-1'), instance('b-1', { profileId: 'b:default', pid: undefined, state: { status: 'starting' } as InstanceSnapshot['state'] })]
    for (let n = 0; n < 20; n++) resources.loadChanged()
    await vi.advanceTimersByTimeAsync(LOAD_REPLAN_MS - 1)
    expect(assess).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await vi.waitFor(() => expect(replanned).toBe(1))
    expect(assess).toHaveBeenCalledTimes(profiles.length)
    // Its process appears: what it holds is measured from now on, so that is planned again.
    instances = [instance('a-1'), instance('b-1', { profileId: 'b:default', pid: 2000, state: { status: 'starting' } as InstanceSnapshot['state'] })]
    resources.loadChanged()
    await vi.advanceTimersByTimeAsync(LOAD_REPLAN_MS)
    await vi.waitFor(() => expect(replanned).toBe(2))
    // An exited instance holds nothing.
    instances = [instance('a-1'), instance('b-1', { profileId: 'b:default', state: { status: 'exited', code: 0, signal: null } as InstanceSnapshot['state'] })]
    resources.loadChanged()
    await vi.advanceTimersByTimeAsync(LOAD_REPLAN_MS)
    await vi.waitFor(() => expect(replanned).toBe(3))
    expect(assess).toHaveBeenCalledTimes(3 * profiles.length)
  })

  it('stops its timer with the component', async () => {
    instances = []
    resources.loadChanged()
    await resources.stop()
    await vi.advanceTimersByTimeAsync(LOAD_REPLAN_MS * 2)
    expect(replanned).toBe(0)
  })
})

/**
 * Why a slot may change without a re-plan: whether herd's instances are busy or idle
 * decides which ones a plan evicts, never the two answers the node gossips (fits now;
 * fits once herd's own instances make room).
 */
describe('fit answers do not depend on whether herd instances are busy', () => {
  const gpu = (totalMb: number, usedMb: number): GpuState => ({ index: 0, uuid: 'GPU-0', name: 'RTX', totalMb, usedMb, freeMb: totalMb - usedMb })
  const held = (id: string, vramMb: number, idle: boolean, lastUsedAt: number): HeldInstance => ({
    instanceId: id,
    gpus: [0],
    vramMb,
    sysmemMb: 200,
    idle,
    lastUsedAt,
  })
  const answers = (input: PlanInput): { now: boolean; afterEviction: boolean } => {
    const plan = planFit(input)
    return { now: plan.fit === 'now', afterEviction: plan.fit !== 'none' || plan.wouldFitWithoutHerd }
  }

  it('gives the same answers for every mix of busy and idle instances', () => {
    // GPU 24 GB; herd holds 3 instances (6, 5, 4 GB); other processes hold 0, 4 or 9 GB; requests of 2–20 GB.
    const sizes = [6_000, 5_000, 4_000]
    let cases = 0
    for (const otherMb of [0, 4_000, 9_000]) {
      for (const needMb of [2_000, 6_000, 9_000, 12_000, 16_000, 20_000]) {
        const input = (mask: number): PlanInput => ({
          gpus: [gpu(24_000, otherMb + 15_000)],
          sysmem: { totalMb: 64_000, freeMb: 48_000 },
          limits: { maxVramMb: null, maxSysmemMb: null },
          held: sizes.map((mb, i) => held(`i${i}`, mb, (mask & (1 << i)) !== 0, i)),
          requirement: { vramMb: needMb, sysmemMb: 500, vramSource: 'estimate', sysmemSource: 'estimate' },
        })
        const all = answers(input(0b111))
        for (let mask = 0; mask < 8; mask++) expect(answers(input(mask)), `other ${otherMb}, need ${needMb}, idle mask ${mask}`).toEqual(all)
        cases++
      }
    }
    expect(cases).toBe(18)
  })
})
