import { describe, expect, it } from 'vitest'
import { resolveRequirement, type FitParamsResult, type LearnedEntry, type MemoryEstimate } from '../../src/hardware/index.ts'
import { GPU_PROCESS_SYSMEM_MB, GPU_PROCESS_VRAM_MB, PROCESS_SYSMEM_MB } from '../../src/hardware/requirement.ts'

const MIB = 1024 * 1024
const learned: LearnedEntry = { vramMb: 7000, rssMb: 900, profileId: undefined, samples: 5, updatedAt: 1 }
const fit: FitParamsResult = {
  devices: [{ name: 'CUDA0', modelMb: 4000, contextMb: 1000, computeMb: 300, totalMb: 5300 }],
  host: { name: 'Host', modelMb: 200, contextMb: 0, computeMb: 20, totalMb: 220 },
  deviceMb: 5300,
  hostMb: 220,
}
const estimate = {
  weightsBytes: 4200 * MIB,
  kvBytes: 1000 * MIB,
  computeBytes: 250 * MIB,
  totalBytes: 5450 * MIB,
  deviceBytes: 5250 * MIB,
  hostBytes: 200 * MIB,
  hostWeightsBytes: 200 * MIB,
} as MemoryEstimate
const cookbook = { estimatedVramMb: 6000, estimatedSysmemMb: 2000 }

describe('resolveRequirement', () => {
  it('prefers what was measured for this launch', () => {
    expect(resolveRequirement({ learned, fit, estimate, cookbook }, { gpu: true })).toEqual({
      vramMb: 7000,
      sysmemMb: 900,
      vramSource: 'learned',
      sysmemSource: 'learned',
    })
  })

  it('then llama-fit-params, plus the per-process overheads it does not see', () => {
    expect(resolveRequirement({ fit, cookbook }, { gpu: true })).toEqual({
      vramMb: 5300 + GPU_PROCESS_VRAM_MB,
      sysmemMb: 220 + GPU_PROCESS_SYSMEM_MB,
      vramSource: 'fit-params',
      sysmemSource: 'fit-params',
    })
  })

  it('takes the smaller compute figure from the estimate, since fit-params sizes logits for a whole batch', () => {
    // fit-params: 300 MiB compute on CUDA0; the estimate: 250.
    expect(resolveRequirement({ fit, estimate }, { gpu: true })).toMatchObject({ vramMb: 4000 + 1000 + 250 + GPU_PROCESS_VRAM_MB, vramSource: 'fit-params' })
  })

  it('takes the larger host weights from the estimate, since fit-params leaves out CPU-repacked copies', () => {
    // An 8B Q4_K on a CPU node: fit-params printed `Host 693 512 266`; the tensors sum to 4438 MiB.
    const cpuFit: FitParamsResult = {
      devices: [],
      host: { name: 'Host', modelMb: 693, contextMb: 512, computeMb: 266, totalMb: 1471 },
      deviceMb: 0,
      hostMb: 1471,
    }
    const cpuEstimate = {
      ...estimate,
      weightsBytes: 4438 * MIB,
      kvBytes: 512 * MIB,
      computeBytes: 120 * MIB,
      totalBytes: 5070 * MIB,
      hostWeightsBytes: 282 * MIB,
    }
    expect(resolveRequirement({ fit: cpuFit, estimate: cpuEstimate }, { gpu: false })).toMatchObject({
      sysmemMb: 4438 + 512 + 120 + PROCESS_SYSMEM_MB,
      sysmemSource: 'fit-params',
    })
  })

  it('then herd’s own estimate', () => {
    expect(resolveRequirement({ estimate, cookbook }, { gpu: true })).toEqual({
      vramMb: 5250 + GPU_PROCESS_VRAM_MB,
      sysmemMb: 200 + GPU_PROCESS_SYSMEM_MB,
      vramSource: 'estimate',
      sysmemSource: 'estimate',
    })
  })

  it('then the cookbook, and nothing at all as a last resort', () => {
    expect(resolveRequirement({ cookbook }, { gpu: true })).toEqual({ vramMb: 6000, sysmemMb: 2000, vramSource: 'cookbook', sysmemSource: 'cookbook' })
    expect(resolveRequirement({}, { gpu: true })).toEqual({ vramMb: 0, sysmemMb: 0, vramSource: 'none', sysmemSource: 'none' })
  })

  it('takes each figure from the best source that has it', () => {
    const cpuLearned = { ...learned, vramMb: null }
    expect(resolveRequirement({ learned: cpuLearned, estimate }, { gpu: true })).toMatchObject({
      vramSource: 'estimate',
      sysmemSource: 'learned',
      sysmemMb: 900,
    })
  })

  it('counts everything as system memory on a CPU-only node', () => {
    expect(resolveRequirement({ fit, cookbook }, { gpu: false })).toEqual({
      vramMb: 0,
      sysmemMb: 5300 + 220 + PROCESS_SYSMEM_MB,
      vramSource: 'none',
      sysmemSource: 'fit-params',
    })
    expect(resolveRequirement({ estimate }, { gpu: false })).toMatchObject({ sysmemMb: 5450 + PROCESS_SYSMEM_MB, sysmemSource: 'estimate' })
    expect(resolveRequirement({ cookbook }, { gpu: false })).toMatchObject({ sysmemMb: 8000, sysmemSource: 'cookbook' })
  })
})
