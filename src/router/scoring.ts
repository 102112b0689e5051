/**
 * How soon can a node serve a request? A pure ranking so the table is easy to test.
 * Lower tier is better; within a tier a lower `wait` is better; ties go local.
 */
import type { ModelState, ResourceState } from '../mesh/types.ts'

export type Tier =
  /** Loaded with a free slot. */
  | 0
  /** Loaded, all slots busy: waits in a queue. */
  | 1
  /** Not loaded (or no spare instance) but a cold start fits in free memory. */
  | 2
  /** A cold start needs idle instances evicted first. */
  | 3

export interface Candidate {
  nodeId: string
  local: boolean
  tier: Tier
  /** Estimated wait within the tier (requests ahead per slot, seconds of queue, free memory rank). */
  wait: number
  /** For peers: the `seq` of the state this was scored on. */
  seq?: number
  /** For peers: the node's name, as it gossips it (for the status a waiting client sees). */
  name?: string
}

export interface ScoreInput {
  nodeId: string
  local: boolean
  model: ModelState
  /** Requests this node sent there since that node's last state: they count as busy slots. */
  pending: number
  /** Free memory herd may use on that node (VRAM on a GPU node, else RAM), MiB: roomier nodes first for cold starts. */
  freeMemoryMb: number | null
  /** The node has GPUs. A cold start goes to a GPU node before a CPU one, whatever the RAM. */
  gpu?: boolean
}

/** Ranks every CPU node's cold start after every GPU node's (RAM and VRAM are not comparable). */
const CPU_NODE_PENALTY = 1e9

/** What a typical answer costs, in tokens, to turn a learned rate into seconds. */
const TYPICAL_TOKENS = 100

/** The room figures ScoreInput wants, from a node's gossiped resources. */
export function memoryRoom(r: ResourceState): { freeMemoryMb: number | null; gpu: boolean } {
  const gpu = r.gpus.length > 0
  return { freeMemoryMb: gpu ? r.vramBudgetFreeMb : r.sysmemBudgetFreeMb, gpu }
}

/**
 * Score one node for one model, or null when it cannot serve it at all (queue full and
 * nowhere to grow, or no room even after eviction).
 */
export function score(input: ScoreInput): Candidate | null {
  const { model, pending } = input
  const busy = model.slotsBusy + model.queueLength + pending
  const free = model.slotsTotal - busy
  const base = { nodeId: input.nodeId, local: input.local }
  if (model.readyInstances > 0 && free > 0) {
    // Among free slots the faster node answers sooner; without a learned rate, the emptier one.
    const load = busy / Math.max(1, model.slotsTotal)
    return { ...base, tier: 0, wait: model.tokensPerSecond ? (1 + load) * (TYPICAL_TOKENS / model.tokensPerSecond) : load }
  }
  if (model.instances > 0) {
    const canGrow = model.instances < model.maxInstances && model.canFitNow
    const waiting = model.queueLength + pending
    if (!canGrow && waiting >= model.maxQueueSize + Math.max(0, free)) return null
    // Seconds of queue ahead: with a learned rate, queue per slot x a typical answer's time; else queue per slot.
    const perSlot = Math.max(0, -free + 1) / Math.max(1, model.slotsTotal)
    const wait = model.tokensPerSecond ? perSlot * (TYPICAL_TOKENS / model.tokensPerSecond) : perSlot
    return { ...base, tier: 1, wait }
  }
  if (model.canFitNow) {
    // GPU nodes first, then the most free memory: the cold start is least likely to squeeze it.
    return { ...base, tier: 2, wait: (input.gpu ? 0 : CPU_NODE_PENALTY) - (input.freeMemoryMb ?? 0) }
  }
  if (model.canFitAfterEviction) return { ...base, tier: 3, wait: 0 }
  return null
}

/** Best first; ties go to the local node. */
export function rank(candidates: Candidate[]): Candidate[] {
  return [...candidates].sort((a, b) => a.tier - b.tier || a.wait - b.wait || Number(b.local) - Number(a.local))
}
