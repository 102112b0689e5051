/**
 * The context a discovered model is launched with: the largest, up to the trained context,
 * whose memory by herd's own estimate (hardware/estimate.ts, with the process overheads
 * requirement.ts adds) fits the node's budget, with a floor of MIN_DISCOVERED_CONTEXT (or
 * the trained context, when that is shorter). The budget is the node's size, not what is free
 * right now: a context that followed the load would change the launch (and its learned
 * memory) all the time. A model that does not fit even at the floor gets the floor, and the
 * planner refuses it with its usual reason.
 */
import {
  estimateMemory,
  marginMb,
  nodeEstimateOptions,
  parseLaunchArgs,
  resolveRequirement,
  type CpuFeatures,
  type GgufInfo,
  type Requirement,
} from '../hardware/index.ts'
import { MIN_DISCOVERED_CONTEXT } from './constants.ts'

/** What one model may take on this node, MiB. */
export interface NodeBudget {
  /** The node has GPUs (its llama-server is a GPU build). */
  gpu: boolean
  /** The largest GPU less its margin, capped by `resources.max_vram_mb`; null without GPUs. */
  vramMb: number | null
  /** System memory less its margin, capped by `resources.max_sysmem_mb`. */
  sysmemMb: number
  cpu?: CpuFeatures | undefined
}

/** The budget of a node with these GPUs and this much memory, under the config's caps. */
export function nodeBudget(
  gpus: readonly { totalMb: number }[],
  sysmemTotalMb: number,
  limits: { maxVramMb: number | null; maxSysmemMb: number | null },
  cpu?: CpuFeatures,
): NodeBudget {
  const largest = Math.max(0, ...gpus.map((g) => g.totalMb - marginMb(g.totalMb)))
  const vramMb = gpus.length === 0 ? null : limits.maxVramMb === null ? largest : Math.min(largest, limits.maxVramMb)
  const sys = sysmemTotalMb - marginMb(sysmemTotalMb)
  return { gpu: gpus.length > 0, vramMb, sysmemMb: limits.maxSysmemMb === null ? sys : Math.min(sys, limits.maxSysmemMb), cpu }
}

/** herd's estimate for launching `info` with these args on this node (no learned or fit-params figures). */
export function estimateFor(info: GgufInfo, args: readonly string[], budget: Pick<NodeBudget, 'gpu' | 'cpu'>): Requirement {
  const estimate = estimateMemory(info, nodeEstimateOptions(parseLaunchArgs(args), { gpu: budget.gpu, cpu: budget.cpu }))
  return resolveRequirement({ estimate }, { gpu: budget.gpu })
}

function fits(r: Requirement, b: NodeBudget): boolean {
  return r.sysmemMb <= b.sysmemMb && (!b.gpu || b.vramMb === null || r.vramMb <= b.vramMb)
}

/** The context to launch with (see the top of this file). */
export function fitContext(info: GgufInfo, budget: NodeBudget, extraArgs: readonly string[] = []): number {
  const trained = info.contextLength > 0 ? info.contextLength : 4096
  const floor = Math.min(trained, MIN_DISCOVERED_CONTEXT)
  const ok = (ctx: number): boolean => fits(estimateFor(info, ['-c', String(ctx), ...extraArgs], budget), budget)
  if (ok(trained)) return trained
  // Memory grows with the context: binary search over multiples of 256 (llama.cpp pads to 256 anyway).
  let lo = Math.ceil(floor / 256)
  let hi = Math.floor(trained / 256)
  if (lo > hi || !ok(lo * 256)) return floor
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (ok(mid * 256)) lo = mid
    else hi = mid - 1
  }
  return Math.max(floor, lo * 256)
}
