/**
 * The arithmetic under the capacity planner: which GPU sets a launch may use, how much is
 * free on each once some idle instances are gone, and the env/args that pin a launch there.
 */
import type { GpuState } from '../mesh/types.ts'
import type { HeldInstance, Placement, PlanInput } from './capacity.ts'

/** One way to lay a launch over GPUs. `shares` empty: split in proportion to free VRAM. */
export interface Layout {
  gpus: number[]
  shares: number[]
  /** The profile chose this itself: add nothing to its launch. */
  pinned: boolean
}

/** Headroom kept free on a device: 5 % of it, at most 512 MiB. */
export function marginMb(totalMb: number): number {
  return Math.min(512, Math.ceil(totalMb * 0.05))
}

/** GPU sets a launch may use, from the placement options it pins (if any). */
export function candidateLayouts(gpus: readonly GpuState[], launch: PlanInput['launch']): Layout[] {
  const indexes = gpus.map((g) => g.index)
  const ts = launch?.tensorSplit
  if (ts && ts.some((x) => x > 0)) {
    // Proportions apply to the visible devices in order; herd leaves visibility alone.
    const sum = ts.reduce((a, b) => a + Math.max(0, b), 0)
    const used = ts.map((x, i) => ({ i, x })).filter(({ x }) => x > 0)
    if (used.some(({ i }) => i >= indexes.length)) return []
    return [{ gpus: used.map(({ i }) => indexes[i] ?? i), shares: used.map(({ x }) => x / sum), pinned: true }]
  }
  const devs = (launch?.devices ?? []).map(deviceIndex)
  if (devs.length > 0) {
    if (devs.some((d) => d === undefined || !indexes.includes(d))) return []
    const picked = devs as number[]
    return [{ gpus: picked, shares: picked.length === 1 ? [1] : [], pinned: true }]
  }
  if (launch?.splitMode === 'none' && launch.mainGpu !== undefined) {
    return indexes.includes(launch.mainGpu) ? [{ gpus: [launch.mainGpu], shares: [1], pinned: true }] : []
  }
  if (launch?.splitMode !== undefined && launch.splitMode !== 'none' && indexes.length > 1) {
    return [{ gpus: indexes, shares: [], pinned: false }]
  }
  return indexes.map((i) => ({ gpus: [i], shares: [1], pinned: false }))
}

/** `CUDA1` → 1. Devices named otherwise (Vulkan, RPC) are not placed by herd. */
function deviceIndex(name: string): number | undefined {
  const m = /^CUDA(\d+)$/i.exec(name.trim())
  return m ? Number(m[1]) : undefined
}

interface Free {
  sysmem: number
  gpu: Map<number, number>
  /** VRAM herd may still take under `max_vram_mb`. */
  vramBudget: number
}

function freeAfter(input: PlanInput, evicted: readonly HeldInstance[]): Free {
  const gone = new Set(evicted.map((h) => h.instanceId))
  const kept = input.held.filter((h) => !gone.has(h.instanceId))
  const sum = (xs: readonly HeldInstance[], f: (h: HeldInstance) => number): number => xs.reduce((a, h) => a + f(h), 0)
  // The device's free figure, less what kept instances are admitted for but do not show yet,
  // plus what evicted ones show (an evicted instance's reservation simply lapses).
  const shown = (h: HeldInstance, f: 'sysmem' | 'vram'): number =>
    f === 'sysmem' ? h.sysmemMb - (h.reservedSysmemMb ?? 0) : h.vramMb - (h.reservedVramMb ?? 0)
  const sysPhysical = input.sysmem.freeMb - sum(kept, (h) => h.reservedSysmemMb ?? 0) + sum(evicted, (h) => shown(h, 'sysmem')) - marginMb(input.sysmem.totalMb)
  const sysBudget = input.limits.maxSysmemMb === null ? Infinity : input.limits.maxSysmemMb - sum(kept, (h) => h.sysmemMb)
  const gpu = new Map<number, number>()
  for (const g of input.gpus) {
    const onG = (h: HeldInstance, x: number): number => (h.gpus.includes(g.index) ? x / h.gpus.length : 0)
    const back = sum(evicted, (h) => onG(h, shown(h, 'vram')))
    const reserved = sum(kept, (h) => onG(h, h.reservedVramMb ?? 0))
    gpu.set(g.index, g.freeMb - reserved + back - marginMb(g.totalMb))
  }
  const vramBudget = input.limits.maxVramMb === null ? Infinity : input.limits.maxVramMb - sum(kept, (h) => h.vramMb)
  return { sysmem: Math.min(sysPhysical, sysBudget), gpu, vramBudget }
}

/** What is still short for this layout once `evicted` are gone (nothing short: it fits). */
export function deficit(input: PlanInput, layout: Layout | undefined, evicted: readonly HeldInstance[]): { sysmem: boolean; gpus: number[]; budget: boolean } {
  const free = freeAfter(input, evicted)
  const req = input.requirement
  const gpus: number[] = []
  if (layout) {
    if (layout.shares.length === 0) {
      const total = layout.gpus.reduce((a, i) => a + Math.max(0, free.gpu.get(i) ?? 0), 0)
      if (total < req.vramMb) gpus.push(...layout.gpus)
    } else {
      layout.gpus.forEach((i, k) => {
        if ((free.gpu.get(i) ?? 0) < req.vramMb * (layout.shares[k] ?? 1)) gpus.push(i)
      })
    }
  }
  return { sysmem: free.sysmem < req.sysmemMb, gpus, budget: layout !== undefined && free.vramBudget < req.vramMb }
}

/** The best placement among `layouts` with `evicted` gone, or undefined when none fits. */
export function tryPlace(input: PlanInput, layouts: readonly Layout[], needsGpu: boolean, evicted: readonly HeldInstance[]): Placement | undefined {
  if (!needsGpu) {
    return deficit(input, undefined, evicted).sysmem ? undefined : { kind: 'cpu', env: {}, args: [] }
  }
  const free = freeAfter(input, evicted)
  let best: { layout: Layout; room: number } | undefined
  for (const layout of layouts) {
    const d = deficit(input, layout, evicted)
    if (d.sysmem || d.budget || d.gpus.length > 0) continue
    const room = layout.gpus.reduce((a, i) => a + (free.gpu.get(i) ?? 0), 0)
    if (!best || room > best.room) best = { layout, room }
  }
  if (!best) return undefined
  const { layout } = best
  if (layout.pinned) return { kind: 'gpu', gpus: layout.gpus, env: {}, args: [] }
  if (layout.shares.length === 0) {
    // Split the layers in proportion to what each GPU has free now.
    const split = layout.gpus.map((i) => Math.max(0, Math.floor(free.gpu.get(i) ?? 0)))
    return { kind: 'gpu', gpus: layout.gpus, env: {}, args: ['--tensor-split', split.join(',')] }
  }
  // nvidia-smi numbers GPUs in PCI bus order; CUDA's default order is fastest first.
  const env = { CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: layout.gpus.join(',') }
  return { kind: 'gpu', gpus: layout.gpus, env, args: [] }
}

/** Whether evicting `h` (on top of `evicted`) gives back something this layout still lacks. */
export function helps(input: PlanInput, layout: Layout | undefined, evicted: readonly HeldInstance[], h: HeldInstance): boolean {
  const d = deficit(input, layout, evicted)
  if (d.sysmem && h.sysmemMb > 0) return true
  if (d.budget && h.vramMb > 0) return true
  return h.vramMb > 0 && h.gpus.some((g) => d.gpus.includes(g))
}
