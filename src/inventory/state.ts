/**
 * This node's inventory as it gossips it: one entry per local profile whose GGUF file is
 * here. About 360 bytes of JSON an entry for a typical model (measured in test/inventory/state.test.ts).
 */
import type { ProfileSpec } from '../config/index.ts'
import type { LearnedEntry } from '../hardware/index.ts'
import type { InventoryState } from '../mesh/index.ts'
import type { InventoryItem } from './inventory.ts'
import { MAX_DISCOVERED_MODELS } from './constants.ts'

export interface InventorySources {
  profiles: () => Iterable<ProfileSpec>
  item: (profileId: string) => InventoryItem | undefined
  /** Measured memory for a launch hash on this node. */
  learned: (launchHash: string) => LearnedEntry | undefined
}

export function inventoryState(s: InventorySources): InventoryState[] {
  const out: InventoryState[] = []
  for (const p of s.profiles()) {
    const item = s.item(p.id)
    if (item === undefined) continue
    const learned = s.learned(p.launchHash)
    out.push({
      id: p.id,
      source: item.source,
      ...item.facts,
      ...(item.context === undefined ? {} : { context: item.context }),
      ...(item.estimate === undefined ? {} : { estimateVramMb: item.estimate.vramMb, estimateSysmemMb: item.estimate.sysmemMb }),
      ...(learned === undefined ? {} : { learnedVramMb: learned.vramMb, learnedSysmemMb: learned.rssMb }),
    })
    if (out.length >= MAX_DISCOVERED_MODELS) break
  }
  return out
}
