/**
 * How much one instance of a profile needs, from the best source at hand. Precedence, per
 * figure (VRAM and system memory separately):
 *
 *   1. learned     — measured on this node for this exact launch (launch hash): includes
 *                    the CUDA context, driver and allocator overheads nothing else sees.
 *   2. fit-params  — llama.cpp's own dry run of this launch: the real graph, offload and
 *                    split rules of the installed build; misses per-process overheads (added
 *                    here) and rounds down to whole MiB. Measured against the server it has
 *                    two holes, which herd's estimate fills when it has one: it reserves
 *                    logits for a whole batch where llama-server keeps one row per slot
 *                    (compute 300 MiB instead of 40 for a 152k vocabulary), so the smaller
 *                    compute figure is taken; and on the host it leaves out the weights the
 *                    CPU backend repacks into its extra buffers (CPU_REPACK on AVX2/ARM, AMX:
 *                    693 MiB instead of 4438 for an 8B Q4_K on AVX2, 4542 with AMX), so the
 *                    larger weights figure is taken.
 *   3. estimate    — herd's GGUF reading and formulas (estimate.ts): close for dense models,
 *                    rough for MoE/SWA/recurrent ones; overheads added as for fit-params.
 *   4. cookbook    — `estimated_vram_mb` / `estimated_sysmem_mb`: a person's guess, possibly
 *                    for another quantization or context; used only when nothing better exists.
 *
 * A learned figure is only as old as the launch hash: change the args or the model path
 * and the profile is re-learned.
 */
import type { FitParamsResult } from './fit-params.ts'
import type { LearnedEntry } from './learned-memory.ts'
import type { MemoryEstimate } from './estimate.ts'

export type RequirementSource = 'learned' | 'fit-params' | 'estimate' | 'cookbook' | 'none'

export interface Requirement {
  vramMb: number
  sysmemMb: number
  vramSource: RequirementSource
  sysmemSource: RequirementSource
}

export interface RequirementSources {
  learned?: LearnedEntry | undefined
  fit?: FitParamsResult | undefined
  estimate?: MemoryEstimate | undefined
  cookbook?: { estimatedVramMb: number | undefined; estimatedSysmemMb: number | undefined }
}

/** VRAM a CUDA process holds beyond its llama.cpp buffers (context, cuBLAS workspace). Rough; learned replaces it. */
export const GPU_PROCESS_VRAM_MB = 320
/** Resident memory of llama-server itself (binary, libraries, threads) on a CPU node. */
export const PROCESS_SYSMEM_MB = 64
/** The same with the CUDA runtime and libraries mapped in. */
export const GPU_PROCESS_SYSMEM_MB = 512

const MIB = 1024 * 1024
const mb = (bytes: number): number => Math.ceil(bytes / MIB)

/**
 * The requirement on a node with GPUs (`gpu`: true) or a CPU-only one (everything counts
 * as system memory, VRAM is 0).
 */
export function resolveRequirement(s: RequirementSources, options: { gpu: boolean }): Requirement {
  const procSys = options.gpu ? GPU_PROCESS_SYSMEM_MB : PROCESS_SYSMEM_MB
  const vram: [number, RequirementSource][] = []
  const sys: [number, RequirementSource][] = []

  if (s.learned) {
    if (options.gpu && s.learned.vramMb !== null) vram.push([s.learned.vramMb, 'learned'])
    sys.push([s.learned.rssMb, 'learned'])
  }
  if (s.fit) {
    const f = correctedFit(s.fit, s.estimate)
    // On a CPU-only node every figure lands in system memory.
    if (options.gpu) {
      if (f.deviceMb > 0) vram.push([f.deviceMb + GPU_PROCESS_VRAM_MB, 'fit-params'])
      sys.push([f.hostMb + procSys, 'fit-params'])
    } else {
      sys.push([f.hostMb + f.deviceMb + procSys, 'fit-params'])
    }
  }
  if (s.estimate) {
    if (options.gpu) {
      if (s.estimate.deviceBytes > 0) vram.push([mb(s.estimate.deviceBytes) + GPU_PROCESS_VRAM_MB, 'estimate'])
      sys.push([mb(s.estimate.hostBytes) + procSys, 'estimate'])
    } else {
      sys.push([mb(s.estimate.totalBytes) + procSys, 'estimate'])
    }
  }
  const cv = s.cookbook?.estimatedVramMb
  const cs = s.cookbook?.estimatedSysmemMb
  if (options.gpu) {
    if (cv !== undefined) vram.push([cv, 'cookbook'])
    if (cs !== undefined) sys.push([cs, 'cookbook'])
  } else if (cv !== undefined || cs !== undefined) {
    sys.push([(cv ?? 0) + (cs ?? 0), 'cookbook'])
  }

  // Something that offloads nothing (-ngl 0, or no source at all) needs no VRAM.
  const none: [number, RequirementSource] = [0, 'none']
  const [vramMb, vramSource] = options.gpu ? (vram[0] ?? none) : none
  const [sysmemMb, sysmemSource] = sys[0] ?? none
  return { vramMb, sysmemMb, vramSource, sysmemSource }
}

/** fit-params' figures with its two known holes filled from the estimate (see the top of this file). */
function correctedFit(fit: FitParamsResult, est: MemoryEstimate | undefined): { deviceMb: number; hostMb: number } {
  const estCompute = est ? mb(est.computeBytes) : Infinity
  const sum = (f: (d: FitParamsResult['host']) => number): number => fit.devices.reduce((a, d) => a + f(d), 0)
  const deviceCompute = sum((d) => d.computeMb)
  const deviceMb = sum((d) => d.modelMb + d.contextMb) + Math.min(deviceCompute, estCompute)
  const hostCompute = fit.devices.length > 0 ? fit.host.computeMb : Math.min(fit.host.computeMb, estCompute)
  // Host weights per the estimate: all of them when nothing is offloaded, else what stays behind.
  const estHostWeights = est ? mb(fit.devices.length > 0 ? est.hostWeightsBytes : est.weightsBytes) : 0
  const hostMb = Math.max(fit.host.modelMb, estHostWeights) + fit.host.contextMb + hostCompute
  return { deviceMb, hostMb }
}
