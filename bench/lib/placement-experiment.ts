/**
 * EXPERIMENT, not herd's code: scratch variants of src/router's scoring, evaluated by
 * `bench:placement` next to the real one. Each names the src/ change it stands for.
 */
import type { ResourceState } from '../../src/mesh/types.ts'
import { rank, score } from '../../src/router/index.ts'
import { HERD_SCORING, type Scoring } from './placement-policy.ts'

/**
 * router.ts `freeMemory()` (and NodeResources.freeMemoryMb for the local node) return free
 * VRAM only: a CPU-only node's free RAM no longer outbids every GPU's free VRAM for tier-2
 * cold starts (null ranks after any GPU node with room).
 */
export const VRAM_FIRST: Scoring = {
  score,
  rank,
  freeMemory: (r: ResourceState) => r.vramBudgetFreeMb,
}

export { HERD_SCORING }

/** Tokens in the "typical answer" score() already prices a queue slot at. */
const TYPICAL_TOKENS = 100

/**
 * scoring.ts: rank loaded candidates (today's tiers 0 and 1) together by the expected
 * seconds to finish a typical answer, from the learned rate: (requests ahead per slot + 1)
 * × TYPICAL_TOKENS / tokensPerSecond. A free slot on a node 40× slower no longer beats a
 * short queue on a fast one. Without a learned rate the candidate keeps today's tier and
 * wait (a first request there learns it). Tiers 2 and 3 are unchanged.
 */
export function etaScore(input: Parameters<typeof score>[0]): ReturnType<typeof score> {
  const s = score(input)
  const m = input.model
  if (!s || s.tier > 1 || !m.tokensPerSecond) return s
  const busy = m.slotsBusy + m.queueLength + input.pending
  const ahead = Math.max(0, busy - m.slotsTotal + 1) / Math.max(1, m.slotsTotal)
  return { ...s, tier: 0, wait: (ahead + 1) * (TYPICAL_TOKENS / m.tokensPerSecond) }
}

export const ETA_LOADED: Scoring = { score: etaScore, rank, freeMemory: HERD_SCORING.freeMemory }
export const ETA_VRAM_FIRST: Scoring = { score: etaScore, rank, freeMemory: VRAM_FIRST.freeMemory }
