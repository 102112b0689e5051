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
  /** Of `usedMb`, what herd's own instances hold (measured, or admitted and not shown yet), MiB; the rest is other processes'. Absent: older nodes. */
  herdMb?: number
}

export interface ResourceState {
  gpus: GpuState[]
  /** System memory (MemTotal / MemAvailable), MiB. */
  sysmem: { totalMb: number; freeMb: number; herdMb?: number }
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
  /** A cold start could fit here once herd's own instances make room (idle ones evicted, busy ones finished). False: not while the memory is as it is (other processes hold it, or the node is too small). */
  canFitAfterEviction: boolean
  /** The profile's `model_path` does not exist on that node (then both fit flags are false). Absent: it exists, or the node does not say. */
  fileMissing?: boolean
  /** Currency units (the node's `tenants.currency`) per million tokens. Absent: the node does not say (older versions). */
  price?: PriceState
  /** Its instances here, one entry each (absent: older nodes; at most MAX_GOSSIP_INSTANCES). */
  running?: InstanceState[]
}

/** One llama-server instance of a model, as the dashboard shows it. */
export interface InstanceState {
  id: string
  state: 'starting' | 'ready' | 'stopping'
  /** Slots on the instance (0 until ready) and how many serve a request now. */
  slots: number
  busy: number
  /** GPU indexes it was placed on (empty: CPU). */
  gpus: number[]
  /** Measured use of its process, MiB; null until sampled. */
  vramMb: number | null
  sysmemMb: number | null
  /** ms since epoch. */
  startedAt: number
}

/**
 * What the node's clients asked of it lately (api/traffic.ts): requests and time to first
 * byte where the client asked, tokens where they were generated, errors by code.
 */
export interface TrafficState {
  /** Rates below are over the last window (60 s). */
  windowSeconds: number
  requestsPerSecond: number
  /** Generated (completion) tokens per second. */
  tokensPerSecond: number
  /** Time to first byte over the window, ms (null: no requests). */
  ttfbP50Ms: number | null
  ttfbP99Ms: number | null
  /** Error code -> count in the window (at most MAX_TRAFFIC_ERROR_CODES codes). */
  errors: Record<string, number>
  models: Array<{ id: string; requestsPerSecond: number; tokensPerSecond: number; ttfbP50Ms: number | null; ttfbP99Ms: number | null }>
  /** The last steps, oldest first: counts per step (requests, tokens) and TTFB percentiles per step. */
  history: { stepSeconds: number; requests: number[]; tokens: number[]; ttfbP50Ms: (number | null)[]; ttfbP99Ms: (number | null)[] }
}

/** A model's price as gossiped: per million tokens, in the node's currency. */
export interface PriceState {
  inputPerMtok: number
  outputPerMtok: number
}

/** One model of an external backend: `backend/model` to clients, `model` upstream. */
export interface BackendModelState {
  /** `backend/model` */
  id: string
  /** Its name on the backend. */
  model: string
  /** Aliases that resolve to it. */
  names: string[]
  /** Absent: unknown. */
  price?: PriceState
}

/**
 * One external backend this node holds the credential for: enough for peers to list its
 * models and route around it when it is down or full. Never its URL, headers or key.
 */
export interface BackendState {
  name: string
  protocol: 'openai' | 'anthropic'
  /** It is outside the network: requests with `x-herd-no-egress: 1` never go there. */
  egress: boolean
  /** The last health probe (GET {base_url}/models): `unknown` until the first answer. */
  health: 'up' | 'down' | 'unknown'
  circuit: 'closed' | 'open' | 'half-open'
  inUse: number
  maxConcurrency: number
  queueLength: number
  maxQueueSize: number
  models: BackendModelState[]
}

/**
 * One local model file as the inventory gossips it: GGUF facts and memory figures. Facts
 * change rarely; the file's name travels, never its folder.
 */
export interface InventoryState {
  /** The `model:profile` it is served as (one of `models`). */
  id: string
  /** A cookbook entry, or found under `model_dirs`. */
  source: 'cookbook' | 'model_dirs'
  /** File name (the first part's, for a split model). */
  file: string
  architecture: string
  parameters: number
  /** `general.file_type` by name (`Q4_K_M`); null when unknown. */
  quantization: string | null
  /** The trained context; 0 when the file does not say. */
  contextLength: number
  /** Bytes on disk, all parts. */
  sizeBytes: number
  /** Files of a split model (1 for one file). */
  parts: number
  /** The attached projector's file name. */
  mmproj: string | null
  /** The `-c` herd chose (model_dirs models). */
  context?: number
  /** herd's GGUF estimate for the launch, MiB (absent: none could be made). */
  estimateVramMb?: number
  estimateSysmemMb?: number
  /** Peak use measured on that node for this launch, MiB (absent: never run there). */
  learnedVramMb?: number | null
  learnedSysmemMb?: number
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
  /** External backends served from this node (absent from nodes that predate them). */
  backends?: BackendState[]
  /** Traffic of the last minutes (absent from nodes that predate it). */
  traffic?: TrafficState
  /** GGUF facts of the model files on this node (absent from nodes that predate the inventory). */
  inventory?: InventoryState[]
  peers: PeerAddress[]
}

/**
 * A request forwarded to a peer over `/herd/forward/1.0.0`. The caller sets `hops` to the
 * value the peer should see (the router sends its own hops + 1); the mesh carries it as is.
 */
export interface ForwardRequest {
  requestId: string
  method: string
  path: string
  headers: Record<string, string>
  hops: number
  body: Buffer
}

/** A peer as the mesh sees it: its newest gossiped state and how old that is. */
export interface PeerView {
  /** libp2p peer id. */
  id: string
  /** `state.name`, repeated for convenience. */
  name: string
  state: NodeState
  /** Local clock (ms since epoch) when the newest state, or a repeat of it, arrived. */
  receivedAt: number
  ageMs: number
  /** Heard from within 3 gossip intervals: only fresh peers are routed to. */
  fresh: boolean
  /** An open libp2p connection to it exists right now. */
  connected: boolean
  /** Multiaddrs it can be dialled on, each ending in `/p2p/<id>`. */
  addrs: string[]
}
