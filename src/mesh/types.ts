/**
 * What a node tells its peers about itself over `/herd/state/1.0.0`. JSON on the wire;
 * additive changes only within a protocol version.
 */

export interface GpuState {
  index: number
  uuid: string
  name: string
  totalMb: number
  usedMb: number
  freeMb: number
}

export interface ResourceState {
  gpus: GpuState[]
  /** System memory (MemTotal / MemAvailable), MiB. */
  sysmem: { totalMb: number; freeMb: number }
  /** Capacity after `resources.max_*` limits and what herd's instances already hold, MiB. */
  vramBudgetFreeMb: number | null
  sysmemBudgetFreeMb: number
}

/** One `model:profile` this node can serve. */
export interface ModelState {
  /** `model:profile` */
  id: string
  model: string
  profile: string
  /** The bare model name (and aliases) resolve to this profile on this node. */
  names: string[]
  description?: string
  capabilities: { completion: boolean; embeddings: boolean; rerank: boolean }
  instances: number
  readyInstances: number
  slotsTotal: number
  slotsBusy: number
  queueLength: number
  maxInstances: number
  maxQueueSize: number
  tokensPerSecond: number | null
  estimatedVramMb: number | null
  estimatedSysmemMb: number | null
  /** A cold start would fit in free memory right now without evicting anything. */
  canFitNow: boolean
  /** A cold start could fit after evicting idle instances. */
  canFitAfterEviction: boolean
}

export interface PeerAddress {
  id: string
  addrs: string[]
}

export interface NodeState {
  /** libp2p peer id (or `local` when the mesh is off). */
  id: string
  name: string
  herdVersion: string
  llamaVersion: string | null
  startedAt: number
  /** Monotonic per node life; an older seq never overwrites a newer one. */
  seq: number
  status: 'ready' | 'draining'
  resources: ResourceState
  models: ModelState[]
  peers: PeerAddress[]
}
