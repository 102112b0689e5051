/**
 * Whether a cold start fits, and where: pure functions over a hardware snapshot, the
 * configured limits, what herd's own instances hold, and a profile's requirement.
 *
 * Free memory is what the device says is free (total − used by anyone, herd or not) less a
 * safety margin and less what admitted instances still loading will take on top of what
 * the device shows them using (their reservation); `resources.max_*_mb` additionally caps
 * what herd's instances hold in all.
 * Evicting an idle instance gives back what it holds. A profile that pins its placement
 * (`-ts`, `-dev`, `-sm none -mg N`) is placed as it says; one that asks for a split
 * (`-sm layer|row|tensor` without `-ts`) gets a `--tensor-split` in proportion to free
 * VRAM; any other goes to the one GPU with the most free VRAM that fits, made the only
 * visible device (llama-server would otherwise spread layers over every GPU it sees).
 */
import type { GpuState, ResourceState } from '../mesh/types.ts'
import type { LaunchArgs } from './launch-args.ts'
import { candidateLayouts, helps, marginMb, tryPlace } from './placement.ts'
import type { Requirement } from './requirement.ts'

export interface Limits {
  maxVramMb: number | null
  maxSysmemMb: number | null
}

/** A herd instance holding memory. */
export interface HeldInstance {
  instanceId: string
  /** GPU indexes it runs on; VRAM is taken as spread evenly over them. Empty: CPU only. */
  gpus: readonly number[]
  /** What it holds in all: measured, plus what it was admitted for and the device does not show yet. */
  vramMb: number
  sysmemMb: number
  /**
   * The part of `vramMb` / `sysmemMb` the device's figures do not show yet (admitted, still
   * loading): taken off free memory on top of what the device reports. Absent: none.
   */
  reservedVramMb?: number
  reservedSysmemMb?: number
  /** Idle instances may be evicted. */
  idle: boolean
  lastUsedAt: number
}

export type Placement =
  { kind: 'cpu'; env: Record<string, string>; args: string[] } | { kind: 'gpu'; gpus: number[]; env: Record<string, string>; args: string[] }

export type FitPlan =
  | { fit: 'now'; placement: Placement }
  | { fit: 'after-eviction'; evict: string[]; placement: Placement }
  | {
      fit: 'none'
      reason: string
      /** It would fit on this node with nothing else running at all. */
      wouldFitEmpty: boolean
      /**
       * It would fit once every herd instance (busy, idle or starting) is gone: waiting for
       * herd's own work can help. False: other processes hold the memory (or it is too big).
       */
      wouldFitWithoutHerd: boolean
    }

export interface PlanInput {
  gpus: readonly GpuState[]
  sysmem: { totalMb: number; freeMb: number }
  limits: Limits
  held: readonly HeldInstance[]
  requirement: Requirement
  /** The profile's parsed args, for the placement options it pins. */
  launch?: Pick<LaunchArgs, 'tensorSplit' | 'splitMode' | 'mainGpu' | 'devices'>
}

/** Plans a cold start: fits now, fits after evicting idle instances (LRU first), or not. */
export function planFit(input: PlanInput): FitPlan {
  const req = input.requirement
  const needsGpu = req.vramMb > 0 && input.gpus.length > 0
  const layouts = needsGpu ? candidateLayouts(input.gpus, input.launch) : []
  if (needsGpu && layouts.length === 0) {
    return { fit: 'none', reason: 'the profile pins GPUs this node does not have', wouldFitEmpty: false, wouldFitWithoutHerd: false }
  }
  const now = tryPlace(input, layouts, needsGpu, [])
  if (now) return { fit: 'now', placement: now }

  const lru = input.held.filter((h) => h.idle).sort((a, b) => a.lastUsedAt - b.lastUsedAt)
  let best: { evict: string[]; placement: Placement } | undefined
  // For each layout, evict in LRU order only what frees memory it still lacks; keep the plan that evicts least.
  for (const layout of needsGpu ? layouts : [undefined]) {
    const evicted: HeldInstance[] = []
    for (const h of lru) {
      const placement = tryPlace(input, layout ? [layout] : [], needsGpu, evicted)
      if (placement) break
      if (helps(input, layout, evicted, h)) evicted.push(h)
    }
    const placement = tryPlace(input, layout ? [layout] : [], needsGpu, evicted)
    if (placement && (!best || evicted.length < best.evict.length)) best = { evict: evicted.map((h) => h.instanceId), placement }
  }
  if (best) return { fit: 'after-eviction', ...best }

  const empty = {
    ...input,
    held: [],
    gpus: input.gpus.map((g) => ({ ...g, usedMb: 0, freeMb: g.totalMb })),
    sysmem: { ...input.sysmem, freeMb: input.sysmem.totalMb },
  }
  const wouldFitEmpty = tryPlace(empty, layouts, needsGpu, []) !== undefined
  const wouldFitWithoutHerd = tryPlace(withoutHerd(input), layouts, needsGpu, []) !== undefined
  const what = needsGpu ? `${req.vramMb} MiB VRAM and ${req.sysmemMb} MiB memory` : `${req.sysmemMb} MiB memory`
  let reason: string
  if (!wouldFitEmpty) reason = `needs ${what}, more than this node has`
  else if (wouldFitWithoutHerd) reason = `needs ${what}; herd's own instances hold it now (${holders(input, needsGpu)})`
  else reason = `needs ${what}; other processes hold the memory (${holders(input, needsGpu)})`
  return { fit: 'none', reason, wouldFitEmpty, wouldFitWithoutHerd }
}

/**
 * The node with every herd instance gone: all they hold (measured and reserved) back, up
 * to the device's size. Generous on purpose: the device's `used` and the per-process
 * figures are not one snapshot, so while an instance loads some of its memory may show in
 * both or neither; taking all of it back means a node is never refused as "held by other
 * processes" for memory that is herd's own (a wait then ends once the figures agree).
 */
function withoutHerd(input: PlanInput): PlanInput {
  const back = (f: (h: HeldInstance) => number): number => input.held.reduce((a, h) => a + f(h), 0)
  return {
    ...input,
    held: [],
    gpus: input.gpus.map((g) => {
      const freeMb = Math.min(g.totalMb, g.freeMb + back((h) => (h.gpus.includes(g.index) ? h.vramMb / h.gpus.length : 0)))
      return { ...g, freeMb, usedMb: g.totalMb - freeMb }
    }),
    sysmem: { ...input.sysmem, freeMb: Math.min(input.sysmem.totalMb, input.sysmem.freeMb + back((h) => h.sysmemMb)) },
  }
}

/** Who holds the memory, per GPU (when it matters) and in system memory, MiB. */
export function holders(input: Pick<PlanInput, 'gpus' | 'sysmem' | 'held'>, gpus = input.gpus.length > 0): string {
  const parts: string[] = []
  if (gpus) {
    for (const g of input.gpus) {
      const on = input.held.filter((h) => h.gpus.includes(g.index))
      const share = (f: (h: HeldInstance) => number): number => Math.round(on.reduce((a, h) => a + f(h) / h.gpus.length, 0))
      const herd = share((h) => h.vramMb)
      const measured = share((h) => h.vramMb - (h.reservedVramMb ?? 0))
      const free = Math.max(0, g.freeMb - share((h) => h.reservedVramMb ?? 0))
      parts.push(`GPU ${g.index}: other processes ${Math.max(0, g.usedMb - measured)} MiB, herd instances ${herd} MiB, free ${free} of ${g.totalMb} MiB`)
    }
  }
  const herd = input.held.reduce((a, h) => a + h.sysmemMb, 0)
  const measured = input.held.reduce((a, h) => a + h.sysmemMb - (h.reservedSysmemMb ?? 0), 0)
  const reserved = herd - measured
  const used = input.sysmem.totalMb - input.sysmem.freeMb
  parts.push(
    `memory: other processes ${Math.max(0, used - measured)} MiB, herd instances ${herd} MiB, free ${Math.max(0, input.sysmem.freeMb - reserved)} of ${input.sysmem.totalMb} MiB`,
  )
  return parts.join('; ')
}

/**
 * What this node gossips about its memory: free system memory and the largest free VRAM on
 * any one GPU (an unsplit model needs it on one), each after the margin and after
 * `resources.max_*_mb` less what herd's instances hold. VRAM is null without GPUs.
 */
export function resourceState(input: Pick<PlanInput, 'gpus' | 'sysmem' | 'limits' | 'held'>): ResourceState {
  const heldVram = input.held.reduce((a, h) => a + h.vramMb, 0)
  const heldSys = input.held.reduce((a, h) => a + h.sysmemMb, 0)
  const vramCap = input.limits.maxVramMb === null ? Infinity : input.limits.maxVramMb - heldVram
  const sysCap = input.limits.maxSysmemMb === null ? Infinity : input.limits.maxSysmemMb - heldSys
  // Memory admitted to starting instances is not free, though the device does not show it used yet.
  const reservedOn = (index: number): number => input.held.reduce((a, h) => a + (h.gpus.includes(index) ? (h.reservedVramMb ?? 0) / h.gpus.length : 0), 0)
  const reservedSys = input.held.reduce((a, h) => a + (h.reservedSysmemMb ?? 0), 0)
  const perGpu = input.gpus.map((g) => Math.min(g.freeMb - reservedOn(g.index) - marginMb(g.totalMb), vramCap))
  // What herd's instances hold on each GPU (spread evenly over theirs) and in RAM: the dashboard splits used memory by it.
  const herdOn = (index: number): number => input.held.reduce((a, h) => a + (h.gpus.includes(index) ? h.vramMb / h.gpus.length : 0), 0)
  return {
    gpus: input.gpus.map((g) => ({ ...g, herdMb: Math.round(herdOn(g.index)) })),
    sysmem: { ...input.sysmem, herdMb: Math.round(heldSys) },
    vramBudgetFreeMb: perGpu.length === 0 ? null : Math.max(0, ...perGpu.map(Math.floor)),
    sysmemBudgetFreeMb: Math.max(0, Math.min(input.sysmem.freeMb - reservedSys - marginMb(input.sysmem.totalMb), sysCap)),
  }
}
