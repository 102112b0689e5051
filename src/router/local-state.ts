/**
 * This node's own state, as it gossips it and scores itself: the cookbook's enabled
 * profiles joined with the supervisor's live load and the hardware's view of free memory.
 */
import type { Cookbook, ProfileSpec } from '../config/types.ts'
import type { InstanceSnapshot, ProfileLoad } from '../instances/types.ts'
import type { FitAnswer } from '../hardware/index.ts'
import type { BackendState, InstanceState, InventoryState, ModelState, NodeState, PriceState, ResourceState, TrafficState } from '../mesh/types.ts'

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
  /** This node's instances by `model:profile`, for the dashboard (absent: not listed). */
  running?: () => Map<string, InstanceState[]>
  /** Traffic of the last minutes (api/traffic.ts). */
  traffic?: () => TrafficState
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
  return [...cookbook.profiles.values()].map((p) => modelState(s, p, loads.get(p.id), namesFor.get(p.id) ?? []))
}

/** One local model's state (what the router scores a request by), without building every other model's. */
export function localModel(s: LocalStateSources, profileId: string): ModelState | undefined {
  const cookbook = s.cookbook()
  const p = cookbook.profiles.get(profileId)
  if (p === undefined) return undefined
  const names: string[] = []
  for (const [name, id] of cookbook.names) if (id === profileId) names.push(name)
  return modelState(
    s,
    p,
    s.load().find((l) => l.profileId === profileId),
    names,
  )
}

function modelState(s: LocalStateSources, p: ProfileSpec, load: ProfileLoad | undefined, names: string[]): ModelState {
  const fit = s.fit(p)
  const fileMissing = s.fileMissing?.(p.id) === true
  return {
    id: p.id,
    model: p.model,
    profile: p.profile,
    names,
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
  }
}

export function localState(s: LocalStateSources): LocalState {
  return {
    name: s.name,
    herdVersion: s.herdVersion,
    llamaVersion: s.llamaVersion(),
    startedAt: s.startedAt,
    status: s.draining() ? 'draining' : 'ready',
    resources: s.resources(),
    models: withRunning(localModels(s), s.running?.()),
    backends: s.backends?.() ?? [],
    ...(s.traffic === undefined ? {} : { traffic: s.traffic() }),
    ...(s.inventory === undefined ? {} : { inventory: s.inventory() }),
  }
}

/** Gossip only: the router scores with localModels on every request, and needs no instance lists. */
function withRunning(models: ModelState[], running: Map<string, InstanceState[]> | undefined): ModelState[] {
  if (running === undefined) return models
  for (const m of models) m.running = running.get(m.id) ?? []
  return models
}

/** The MAX_GOSSIP_INSTANCES-bounded instance lists by profile: live instances with their measured memory. */
export function runningInstances(
  snapshots: readonly InstanceSnapshot[],
  measured: (pid: number) => { vramMb: number | null; rssMb: number } | undefined,
  max = 64,
): Map<string, InstanceState[]> {
  const out = new Map<string, InstanceState[]>()
  for (const i of snapshots) {
    if (i.state.status === 'exited') continue
    const list = out.get(i.profileId) ?? []
    if (list.length >= max) continue
    const use = i.pid === undefined ? undefined : measured(i.pid)
    list.push({
      id: i.id,
      state: i.state.status,
      slots: i.state.status === 'ready' ? i.state.slots : 0,
      busy: i.busy,
      gpus: [...i.gpus],
      vramMb: use?.vramMb == null ? null : Math.round(use.vramMb),
      sysmemMb: use === undefined ? null : Math.round(use.rssMb),
      startedAt: i.startedAt,
    })
    out.set(i.profileId, list)
  }
  return out
}
