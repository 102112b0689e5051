/**
 * This node's own state, as it gossips it and scores itself: the cookbook's enabled
 * profiles joined with the supervisor's live load and the hardware's view of free memory.
 */
import type { Cookbook, ProfileSpec } from '../config/types.ts'
import type { ProfileLoad } from '../instances/types.ts'
import type { FitAnswer } from '../hardware/index.ts'
import type { BackendState, InventoryState, ModelState, NodeState, PriceState, ResourceState } from '../mesh/types.ts'

export interface LocalStateSources {
  name: string
  herdVersion: string
  llamaVersion: () => string | null
  startedAt: number
  draining: () => boolean
  cookbook: () => Cookbook
  load: () => ProfileLoad[]
  resources: () => ResourceState
  fit: (profile: ProfileSpec) => FitAnswer
  /** The profile's model file is missing here (config/model-files.ts): no cold start can work, so peers should not send it. */
  fileMissing?: (profileId: string) => boolean
  /** This node's external backends (never their URLs, headers or keys). */
  backends?: () => BackendState[]
  /** `tenants.cost_per_hour`: priced into local profiles that name no `price`. @default 0 */
  costPerHour?: number
  /** GGUF facts of this node's model files (inventory/). Absent: none gossiped. */
  inventory?: () => InventoryState[]
}

/**
 * A local profile's price: its `price:`, else the hour's cost charged to its generated
 * tokens at the rate it has been measured to make them (prompt tokens free: prompt
 * processing is one to two orders of magnitude faster), else free.
 */
export function localPrice(p: ProfileSpec, costPerHour: number, tokensPerSecond: number | null): PriceState {
  if (p.price !== undefined) return { inputPerMtok: p.price.inputPerMtok, outputPerMtok: p.price.outputPerMtok }
  if (costPerHour <= 0 || tokensPerSecond === null || tokensPerSecond <= 0) return { inputPerMtok: 0, outputPerMtok: 0 }
  return { inputPerMtok: 0, outputPerMtok: (costPerHour * 1e6) / (3600 * tokensPerSecond) }
}

export type LocalState = Omit<NodeState, 'id' | 'seq' | 'peers'>

export function localModels(s: LocalStateSources): ModelState[] {
  const cookbook = s.cookbook()
  const loads = new Map(s.load().map((l) => [l.profileId, l]))
  const namesFor = new Map<string, string[]>()
  for (const [name, id] of cookbook.names) namesFor.set(id, [...(namesFor.get(id) ?? []), name])
  const out: ModelState[] = []
  for (const p of cookbook.profiles.values()) {
    const load = loads.get(p.id)
    const fit = s.fit(p)
    const fileMissing = s.fileMissing?.(p.id) === true
    out.push({
      id: p.id,
      model: p.model,
      profile: p.profile,
      names: namesFor.get(p.id) ?? [],
      ...(p.description === undefined ? {} : { description: p.description }),
      capabilities: { ...p.capabilities },
      instances: load?.instances ?? 0,
      readyInstances: load?.readyInstances ?? 0,
      slotsTotal: load?.slotsTotal ?? 0,
      slotsBusy: load?.slotsBusy ?? 0,
      queueLength: load?.queueLength ?? 0,
      maxInstances: p.maxInstances,
      maxQueueSize: p.maxQueueSize,
      tokensPerSecond: load?.tokensPerSecond ?? null,
      estimatedVramMb: fit.vramMb,
      estimatedSysmemMb: fit.sysmemMb,
      // A missing file fits nowhere: peers skip this node for it (an instance already running still serves).
      canFitNow: fit.now && !fileMissing,
      canFitAfterEviction: fit.afterEviction && !fileMissing,
      ...(fileMissing ? { fileMissing: true } : {}),
      price: localPrice(p, s.costPerHour ?? 0, load?.tokensPerSecond ?? null),
    })
  }
  return out
}

export function localState(s: LocalStateSources): LocalState {
  return {
    name: s.name,
    herdVersion: s.herdVersion,
    llamaVersion: s.llamaVersion(),
    startedAt: s.startedAt,
    status: s.draining() ? 'draining' : 'ready',
    resources: s.resources(),
    models: localModels(s),
    backends: s.backends?.() ?? [],
    ...(s.inventory === undefined ? {} : { inventory: s.inventory() }),
  }
}
