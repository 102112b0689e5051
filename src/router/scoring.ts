/**
 * How soon can a node serve a request? A pure ranking so the table is easy to test.
 * Lower tier is better; within a tier a lower `wait` is better; ties go local.
 */
import type { ModelState } from '../mesh/types.ts'

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
}

export interface ScoreInput {
  nodeId: string
  local: boolean
  model: ModelState
  /** Requests this node sent there since that node's last state: they count as busy slots. */
  pending: number
  /** Largest free memory on that node (MiB), used to prefer roomier nodes for cold starts. */
  freeMemoryMb: number | null
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
    return { ...base, tier: 0, wait: busy / Math.max(1, model.slotsTotal) }
  }
  if (model.instances > 0) {
    const canGrow = model.instances < model.maxInstances && model.canFitNow
    const waiting = model.queueLength + pending
    if (!canGrow && waiting >= model.maxQueueSize + Math.max(0, free)) return null
    // Seconds of queue ahead: with a learned rate, queue per slot x a typical answer's time; else queue per slot.
    const perSlot = Math.max(0, -free + 1) / Math.max(1, model.slotsTotal)
    const wait = model.tokensPerSecond ? perSlot * (100 / model.tokensPerSecond) : perSlot
    return { ...base, tier: 1, wait }
  }
  if (model.canFitNow) {
    // Prefer the node with the most free memory: the cold start is least likely to squeeze it.
    return { ...base, tier: 2, wait: input.freeMemoryMb === null ? 0 : -input.freeMemoryMb }
  }
  if (model.canFitAfterEviction) return { ...base, tier: 3, wait: 0 }
  return null
}

/** Best first; ties go to the local node. */
export function rank(candidates: Candidate[]): Candidate[] {
  return [...candidates].sort((a, b) => a.tier - b.tier || a.wait - b.wait || Number(b.local) - Number(a.local))
}
