/**
 * GET /cluster/inventory: every model in the mesh, one row per `model:profile`, with its GGUF
 * facts, the nodes that have its file and those that serve it (an instance loading or
 * loaded), and per node the memory herd estimates and the memory it learned; then every
 * external backend model, with the nodes that hold the backend. Built from gossip only (this
 * node's own state first), so every node answers the same for the same states.
 */
import type { BackendState, InventoryState, ModelState, NodeState } from '../mesh/index.ts'

export interface InventoryNode {
  readonly id: string
  readonly name: string
  readonly self: boolean
  /** Heard from within 3 heartbeats (this node always is). */
  readonly fresh: boolean
  readonly state: NodeState
}

export interface MemoryView {
  vram_mb: number | null
  sysmem_mb: number | null
}

export interface InventoryNodeView {
  node: string
  id: string
  self: boolean
  fresh: boolean
  /** The node has the model's file (its inventory lists it). */
  has_file: boolean
  /** The node's cookbook names a file that is not there. */
  file_missing: boolean
  source: InventoryState['source'] | null
  file: string | null
  quantization: string | null
  size_bytes: number | null
  /** The `-c` herd chose there (model_dirs models). */
  context: number | null
  instances: number
  ready_instances: number
  /** herd's GGUF estimate there. */
  estimate: MemoryView | null
  /** Peak measured there for this launch. */
  learned: MemoryView | null
  /** What the node plans a cold start with (the best of learned, llama-fit-params, estimate, cookbook). */
  requirement: MemoryView
}

export interface InventoryModelView {
  id: string
  model: string
  profile: string
  architecture: string | null
  parameters: number | null
  quantization: string | null
  context_length: number | null
  size_bytes: number | null
  file: string | null
  parts: number | null
  mmproj: string | null
  nodes_with_file: string[]
  nodes_serving: string[]
  nodes: InventoryNodeView[]
}

export interface InventoryBackendView {
  id: string
  backend: string
  model: string
  protocol: BackendState['protocol']
  egress: boolean
  nodes: {
    node: string
    id: string
    fresh: boolean
    health: BackendState['health']
    circuit: BackendState['circuit']
    in_use: number
    max_concurrency: number
  }[]
}

export interface ClusterInventory {
  models: InventoryModelView[]
  backends: InventoryBackendView[]
}

export function clusterInventory(nodes: readonly InventoryNode[]): ClusterInventory {
  const rows = new Map<string, InventoryModelView>()
  const row = (id: string, model: string, profile: string): InventoryModelView => {
    let r = rows.get(id)
    if (r === undefined) {
      r = {
        id,
        model,
        profile,
        architecture: null,
        parameters: null,
        quantization: null,
        context_length: null,
        size_bytes: null,
        file: null,
        parts: null,
        mmproj: null,
        nodes_with_file: [],
        nodes_serving: [],
        nodes: [],
      }
      rows.set(id, r)
    }
    return r
  }
  const backends = new Map<string, InventoryBackendView>()
  for (const n of nodes) {
    const files = new Map((n.state.inventory ?? []).map((e) => [e.id, e]))
    const models = new Map(n.state.models.map((m) => [m.id, m]))
    for (const id of new Set([...models.keys(), ...files.keys()])) {
      const m = models.get(id)
      const f = files.get(id)
      const [model, profile] = m !== undefined ? [m.model, m.profile] : splitId(id)
      const r = row(id, model, profile)
      if (f !== undefined && r.architecture === null) {
        r.architecture = f.architecture
        r.parameters = f.parameters
        r.quantization = f.quantization
        r.context_length = f.contextLength
        r.size_bytes = f.sizeBytes
        r.file = f.file
        r.parts = f.parts
        r.mmproj = f.mmproj
      }
      const v = nodeView(n, m, f)
      if (v.has_file) r.nodes_with_file.push(n.name)
      if (v.instances > 0) r.nodes_serving.push(n.name)
      r.nodes.push(v)
    }
    for (const b of n.state.backends ?? []) {
      for (const bm of b.models) {
        let v = backends.get(bm.id)
        if (v === undefined) {
          v = { id: bm.id, backend: b.name, model: bm.model, protocol: b.protocol, egress: b.egress, nodes: [] }
          backends.set(bm.id, v)
        }
        v.nodes.push({ node: n.name, id: n.id, fresh: n.fresh, health: b.health, circuit: b.circuit, in_use: b.inUse, max_concurrency: b.maxConcurrency })
      }
    }
  }
  const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  return { models: [...rows.values()].sort(byId), backends: [...backends.values()].sort(byId) }
}

function nodeView(n: InventoryNode, m: ModelState | undefined, f: InventoryState | undefined): InventoryNodeView {
  return {
    node: n.name,
    id: n.id,
    self: n.self,
    fresh: n.fresh,
    has_file: f !== undefined,
    file_missing: m?.fileMissing === true,
    source: f?.source ?? null,
    file: f?.file ?? null,
    quantization: f?.quantization ?? null,
    size_bytes: f?.sizeBytes ?? null,
    context: f?.context ?? null,
    instances: m?.instances ?? 0,
    ready_instances: m?.readyInstances ?? 0,
    estimate: f?.estimateSysmemMb === undefined ? null : { vram_mb: f.estimateVramMb ?? null, sysmem_mb: f.estimateSysmemMb },
    learned: f?.learnedSysmemMb === undefined ? null : { vram_mb: f.learnedVramMb ?? null, sysmem_mb: f.learnedSysmemMb },
    requirement: { vram_mb: m?.estimatedVramMb ?? null, sysmem_mb: m?.estimatedSysmemMb ?? null },
  }
}

function splitId(id: string): [string, string] {
  const colon = id.lastIndexOf(':')
  return colon <= 0 ? [id, 'default'] : [id.slice(0, colon), id.slice(colon + 1)]
}
