import { describe, expect, it } from 'vitest'
import { parseLaunchArgs, planFit, resourceState, type HeldInstance, type PlanInput, type Requirement } from '../../src/hardware/index.ts'
import type { GpuState } from '../../src/mesh/types.ts'

const gpu = (index: number, totalMb: number, usedMb: number): GpuState => ({
  index,
  uuid: `GPU-${index}`,
  name: 'RTX',
  totalMb,
  usedMb,
  freeMb: totalMb - usedMb,
})
const need = (vramMb: number, sysmemMb = 1000): Requirement => ({ vramMb, sysmemMb, vramSource: 'estimate', sysmemSource: 'estimate' })
const held = (instanceId: string, gpus: number[], vramMb: number, lastUsedAt: number, idle = true, sysmemMb = 500): HeldInstance => ({
  instanceId,
  gpus,
  vramMb,
  sysmemMb,
  idle,
  lastUsedAt,
})
const base = (over: Partial<PlanInput>): PlanInput => ({
  gpus: [],
  sysmem: { totalMb: 64_000, freeMb: 48_000 },
  limits: { maxVramMb: null, maxSysmemMb: null },
  held: [],
  requirement: need(0),
  ...over,
})

describe('planFit on a single GPU', () => {
  it('fits now and makes that GPU the only visible one', () => {
    const plan = planFit(base({ gpus: [gpu(0, 24_000, 2_000)], requirement: need(10_000) }))
    expect(plan).toEqual({ fit: 'now', placement: { kind: 'gpu', gpus: [0], env: { CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: '0' }, args: [] } })
  })

  it('keeps a margin of 5 % (at most 512 MiB) free', () => {
    // 24000 total: margin 512; 2000 used → 21488 usable.
    expect(planFit(base({ gpus: [gpu(0, 24_000, 2_000)], requirement: need(21_488) })).fit).toBe('now')
    expect(planFit(base({ gpus: [gpu(0, 24_000, 2_000)], requirement: need(21_489) })).fit).not.toBe('now')
  })

  it('counts VRAM held by processes herd did not start against capacity', () => {
    const plan = planFit(base({ gpus: [gpu(0, 24_000, 20_000)], requirement: need(8_000) }))
    expect(plan).toMatchObject({ fit: 'none', wouldFitEmpty: true })
  })

  it('evicts idle instances least recently used first, and only as many as needed', () => {
    const plan = planFit(
      base({
        gpus: [gpu(0, 24_000, 21_000)],
        held: [held('newer', [0], 6_000, 300), held('oldest', [0], 6_000, 100), held('busy', [0], 6_000, 50, false), held('older', [0], 3_000, 200)],
        requirement: need(10_000),
      }),
    )
    // Free 2488; evicting oldest (+6000) then older (+3000) gives 11488 ≥ 10000.
    expect(plan).toMatchObject({ fit: 'after-eviction', evict: ['oldest', 'older'], placement: { kind: 'gpu', gpus: [0] } })
  })

  it('cannot fit a model larger than the GPU', () => {
    const plan = planFit(base({ gpus: [gpu(0, 8_000, 0)], requirement: need(9_000) }))
    expect(plan).toMatchObject({ fit: 'none', wouldFitEmpty: false })
    if (plan.fit === 'none') expect(plan.reason).toBe('needs 9000 MiB VRAM and 1000 MiB memory, more than this node has')
  })

  it('cannot fit when only busy instances could make room', () => {
    const plan = planFit(base({ gpus: [gpu(0, 24_000, 20_000)], held: [held('busy', [0], 19_000, 1, false)], requirement: need(10_000) }))
    expect(plan).toMatchObject({ fit: 'none', wouldFitEmpty: true })
  })

  it('respects max_vram_mb over what herd already holds', () => {
    const input = base({
      gpus: [gpu(0, 80_000, 10_000)],
      limits: { maxVramMb: 16_000, maxSysmemMb: null },
      held: [held('a', [0], 10_000, 1)],
      requirement: need(8_000),
    })
    expect(planFit(input)).toMatchObject({ fit: 'after-eviction', evict: ['a'] })
    expect(planFit({ ...input, requirement: need(6_000) }).fit).toBe('now')
  })
})

describe('planFit with instances still loading (reservations)', () => {
  // Admitted, its process started, 1000 of its 10000 MiB allocated so far: 9000 more are coming.
  const loading = (): HeldInstance => ({ ...held('loading', [0], 10_000, 1, false), reservedVramMb: 9_000, reservedSysmemMb: 0 })

  it('takes what a loading instance will still allocate off free memory', () => {
    // The device shows 2000 + 1000 used: 20488 free after the margin, 11488 once the rest arrives.
    const input = base({ gpus: [gpu(0, 24_000, 3_000)], held: [loading()] })
    expect(planFit({ ...input, requirement: need(11_488) }).fit).toBe('now')
    expect(planFit({ ...input, requirement: need(11_489) })).toMatchObject({ fit: 'none', wouldFitWithoutHerd: true })
  })

  it('gives back only what an evicted instance shows, its reservation lapsing with it', () => {
    const idleLoading = { ...loading(), idle: true }
    // Free 21000 − 9000 reserved − 512 = 11488 now; evicting it: 21000 + 1000 − 512 = 21488.
    const plan = planFit(base({ gpus: [gpu(0, 24_000, 3_000)], held: [idleLoading], requirement: need(21_488) }))
    expect(plan).toMatchObject({ fit: 'after-eviction', evict: ['loading'] })
  })

  it('counts reservations in the memory it gossips', () => {
    const s = resourceState({
      gpus: [gpu(0, 24_000, 3_000)],
      sysmem: { totalMb: 64_000, freeMb: 30_000 },
      limits: { maxVramMb: null, maxSysmemMb: null },
      held: [{ ...loading(), reservedSysmemMb: 2_000 }],
    })
    expect(s.vramBudgetFreeMb).toBe(21_000 - 9_000 - 512)
    expect(s.sysmemBudgetFreeMb).toBe(30_000 - 2_000 - 512)
  })
})

describe('planFit when it does not fit: would waiting help?', () => {
  it('says no when other processes hold the memory, and names them', () => {
    const plan = planFit(base({ gpus: [gpu(0, 24_000, 20_000)], held: [held('idle-small', [0], 1_000, 1)], requirement: need(8_000) }))
    expect(plan).toMatchObject({ fit: 'none', wouldFitEmpty: true, wouldFitWithoutHerd: false })
    if (plan.fit === 'none') {
      expect(plan.reason).toBe(
        'needs 8000 MiB VRAM and 1000 MiB memory; other processes hold the memory (GPU 0: other processes 19000 MiB, herd instances 1000 MiB, free 4000 of 24000 MiB; memory: other processes 15500 MiB, herd instances 500 MiB, free 48000 of 64000 MiB)',
      )
    }
  })

  it('says yes when herd’s own busy instances hold it', () => {
    const plan = planFit(base({ gpus: [gpu(0, 24_000, 20_000)], held: [held('busy', [0], 19_000, 1, false)], requirement: need(10_000) }))
    expect(plan).toMatchObject({ fit: 'none', wouldFitWithoutHerd: true })
    if (plan.fit === 'none') expect(plan.reason).toContain("herd's own instances hold it now (GPU 0: other processes 1000 MiB, herd instances 19000 MiB")
  })

  it('says yes when the device already shows a loading instance nvidia-smi does not list yet', () => {
    // 2000 MiB of other processes and 3000 of a starting instance, which is still all reservation.
    const starting: HeldInstance = { ...held('starting', [0], 3_000, 1, false), reservedVramMb: 3_000 }
    const plan = planFit(base({ gpus: [gpu(0, 8_000, 5_000)], held: [starting], requirement: need(3_000) }))
    expect(plan).toMatchObject({ fit: 'none', wouldFitWithoutHerd: true })
  })

  it('says yes when herd’s instances hold the max_vram_mb budget', () => {
    const plan = planFit(
      base({
        gpus: [gpu(0, 80_000, 10_000)],
        limits: { maxVramMb: 16_000, maxSysmemMb: null },
        held: [held('busy', [0], 10_000, 1, false)],
        requirement: need(8_000),
      }),
    )
    expect(plan).toMatchObject({ fit: 'none', wouldFitWithoutHerd: true })
  })
})

describe('planFit on several GPUs', () => {
  it('picks the GPU with the most free VRAM that fits', () => {
    const plan = planFit(base({ gpus: [gpu(0, 24_000, 12_000), gpu(1, 24_000, 2_000), gpu(2, 48_000, 47_000)], requirement: need(10_000) }))
    expect(plan).toMatchObject({ fit: 'now', placement: { gpus: [1], env: { CUDA_VISIBLE_DEVICES: '1' } } })
  })

  it('evicts on the GPU where the fewest evictions make room', () => {
    const plan = planFit(
      base({
        gpus: [gpu(0, 24_000, 23_000), gpu(1, 24_000, 23_000)],
        held: [held('g0-a', [0], 4_000, 1), held('g0-b', [0], 4_000, 2), held('g1-a', [1], 12_000, 3)],
        requirement: need(10_000),
      }),
    )
    expect(plan).toMatchObject({ fit: 'after-eviction', evict: ['g1-a'], placement: { gpus: [1] } })
  })

  it('splits by free VRAM when the profile asks for a split mode without proportions', () => {
    const launch = parseLaunchArgs(['-sm', 'layer'])
    const plan = planFit(base({ gpus: [gpu(0, 24_000, 16_000), gpu(1, 24_000, 12_000)], requirement: need(15_000), launch }))
    expect(plan).toEqual({ fit: 'now', placement: { kind: 'gpu', gpus: [0, 1], env: {}, args: ['--tensor-split', '7488,11488'] } })
  })

  it('respects a profile-given --tensor-split and adds nothing to its launch', () => {
    const launch = parseLaunchArgs(['--tensor-split', '3,1'])
    const fits = planFit(base({ gpus: [gpu(0, 24_000, 0), gpu(1, 24_000, 20_000)], requirement: need(12_000), launch }))
    // 9000 on GPU 0, 3000 on GPU 1 (3488 free there).
    expect(fits).toEqual({ fit: 'now', placement: { kind: 'gpu', gpus: [0, 1], env: {}, args: [] } })
    const short = planFit(base({ gpus: [gpu(0, 24_000, 0), gpu(1, 24_000, 22_000)], requirement: need(12_000), launch }))
    expect(short.fit).toBe('none')
  })

  it('respects a pinned device and main GPU', () => {
    const onDev = planFit(base({ gpus: [gpu(0, 24_000, 0), gpu(1, 24_000, 0)], requirement: need(1_000), launch: parseLaunchArgs(['-dev', 'CUDA1']) }))
    expect(onDev).toEqual({ fit: 'now', placement: { kind: 'gpu', gpus: [1], env: {}, args: [] } })
    const onMain = planFit(
      base({ gpus: [gpu(0, 24_000, 0), gpu(1, 24_000, 0)], requirement: need(1_000), launch: parseLaunchArgs(['-sm', 'none', '-mg', '1']) }),
    )
    expect(onMain).toMatchObject({ fit: 'now', placement: { gpus: [1], args: [] } })
    const missing = planFit(base({ gpus: [gpu(0, 24_000, 0)], requirement: need(1_000), launch: parseLaunchArgs(['-dev', 'CUDA3']) }))
    expect(missing).toMatchObject({ fit: 'none', wouldFitEmpty: false })
  })
})

describe('planFit for system memory', () => {
  it('places on the CPU on a node without GPUs', () => {
    expect(planFit(base({ requirement: need(0, 8_000) }))).toEqual({ fit: 'now', placement: { kind: 'cpu', env: {}, args: [] } })
  })

  it('keeps a margin of system memory and respects max_sysmem_mb', () => {
    // 64000 total: margin 512 of 48000 free.
    expect(planFit(base({ requirement: need(0, 47_488) })).fit).toBe('now')
    expect(planFit(base({ requirement: need(0, 47_489) })).fit).toBe('none')
    const capped = base({ limits: { maxVramMb: null, maxSysmemMb: 10_000 }, held: [held('a', [], 0, 1, true, 6_000)], requirement: need(0, 5_000) })
    expect(planFit(capped)).toMatchObject({ fit: 'after-eviction', evict: ['a'], placement: { kind: 'cpu' } })
  })

  it('evicts for system memory even when VRAM is plentiful', () => {
    const plan = planFit(
      base({
        gpus: [gpu(0, 24_000, 0)],
        sysmem: { totalMb: 16_000, freeMb: 2_000 },
        held: [held('old', [0], 1_000, 1, true, 4_000), held('new', [0], 1_000, 2, true, 4_000)],
        requirement: need(2_000, 3_000),
      }),
    )
    expect(plan).toMatchObject({ fit: 'after-eviction', evict: ['old'] })
  })
})

describe('resourceState', () => {
  it('reports the largest free VRAM on one GPU and free memory, after margins and limits', () => {
    const s = resourceState({
      gpus: [gpu(0, 24_000, 4_000), gpu(1, 24_000, 10_000)],
      sysmem: { totalMb: 64_000, freeMb: 30_000 },
      limits: { maxVramMb: 30_000, maxSysmemMb: 20_000 },
      held: [held('a', [0], 12_000, 1, false, 8_000)],
    })
    // GPU 0: 20000 free − 512 margin = 19488, capped by 30000 − 12000 held = 18000.
    expect(s.vramBudgetFreeMb).toBe(18_000)
    // 30000 − 512 = 29488 free, capped by 20000 − 8000 held = 12000.
    expect(s.sysmemBudgetFreeMb).toBe(12_000)
    expect(s.gpus).toHaveLength(2)
  })

  it('has no VRAM figure on a node without GPUs', () => {
    expect(resourceState({ gpus: [], sysmem: { totalMb: 8_000, freeMb: 6_000 }, limits: { maxVramMb: null, maxSysmemMb: null }, held: [] })).toMatchObject({
      vramBudgetFreeMb: null,
      sysmemBudgetFreeMb: 6_000 - 400,
    })
  })
})

describe('the memory split the dashboard draws', () => {
  it("gossips what herd's instances hold on each GPU (spread over theirs) and in RAM", () => {
    const s = resourceState({
      gpus: [gpu(0, 24_000, 10_000), gpu(1, 24_000, 4_000)],
      sysmem: { totalMb: 64_000, freeMb: 30_000 },
      limits: { maxVramMb: null, maxSysmemMb: null },
      held: [held('one', [0], 6_000, 1, true, 1_000), held('split', [0, 1], 4_000, 1, true, 500), held('cpu', [], 0, 1, true, 2_000)],
    })
    expect(s.gpus.map((g) => g.herdMb)).toEqual([8_000, 2_000])
    expect(s.sysmem.herdMb).toBe(3_500)
  })
})
