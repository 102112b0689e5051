/**
 * Which models exist, mesh-wide: this node's cookbook first, then its external backends'
 * models (`backend/model`), then what fresh peers gossip (their models, then their
 * backends'). Resolves what a client typed (`name`, `name:profile`, an alias) to one
 * `model:profile` or backend model id, and lists the union for /v1/models.
 */
import type { Capabilities, Cookbook, RouteStrategy } from '../config/types.ts'
import type { BackendState, ModelState, PriceState } from '../mesh/types.ts'
import type { RoutablePeer } from './router.ts'

export interface CatalogEntry {
  /** What a client may send as `model`. */
  id: string
  /** The `model:profile` it resolves to. */
  profileId: string
  /** Node that owns it (this node's name for local models). */
  ownedBy: string
  created: number
  description: string | undefined
  capabilities: Capabilities
  local: boolean
  /** `missing_file` when the owning node's `model_path` for it does not exist. */
  status: 'ok' | 'missing_file'
  /** For a route name: the models it stands for (those that exist now) and how one is chosen. */
  route?: { candidates: string[]; strategy: RouteStrategy }
  /** Set for an external backend's model. */
  backend?: BackendInfo
}

/** What the api needs to know of a backend model: whose it is, what it speaks, whether it leaves the network. */
export interface BackendInfo {
  name: string
  protocol: BackendState['protocol']
  egress: boolean
}

/** The models one request may be served by, best first by the cookbook's say. */
export interface ModelPlan {
  /** `model:profile` ids: the one asked for (or a route's first candidate), then the alternatives. */
  profileIds: string[]
  strategy: RouteStrategy
  /** The route name, when the request named one. */
  route: string | undefined
}

export interface CatalogComponents {
  nodeName: string
  startedAt: number
  cookbook: () => Cookbook
  peers: () => readonly RoutablePeer[]
  /** Whether this node's file for a profile is missing. Default: never. */
  fileMissing?: (profileId: string) => boolean
  /** This node's backends (absent: none). */
  backends?: () => BackendState[]
  /** A local profile's price as this node gossips it (absent: its `price:`, else free). */
  localPrice?: (profileId: string) => PriceState | undefined
}

export class ModelCatalog {
  private readonly c: CatalogComponents

  constructor(components: CatalogComponents) {
    this.c = components
  }

  /** The `model:profile` a request names, or undefined when no node serves it. */
  resolve(requested: string | undefined): string | undefined {
    const cookbook = this.c.cookbook()
    if (requested === undefined) return cookbook.defaultModel
    if (cookbook.profiles.has(requested)) return requested
    const local = cookbook.names.get(requested)
    if (local !== undefined) return local
    const named = (m: { id: string; names: readonly string[] }): boolean => m.id === requested || m.names.includes(requested)
    for (const backend of this.localBackends()) for (const model of backend.models) if (named(model)) return model.id
    return this.remoteModel(named)?.id ?? this.remoteBackendModel(named)?.model.id
  }

  /** The backend a model id belongs to (here or on a peer), or undefined for a llama-server model. */
  backend(profileId: string): BackendInfo | undefined {
    if (this.c.cookbook().profiles.has(profileId)) return undefined
    for (const backend of this.localBackends()) for (const model of backend.models) if (model.id === profileId) return info(backend)
    const hit = this.remoteBackendModel((m) => m.id === profileId)
    return hit === undefined ? undefined : info(hit.backend)
  }

  /**
   * What a request's `model` means: one model (and the `fallbacks` its cookbook entry
   * names), or a route's candidates. Names that resolve nowhere right now are left out (a
   * peer serving them may come back); undefined when nothing is left.
   */
  plan(requested: string | undefined): ModelPlan | undefined {
    const cookbook = this.c.cookbook()
    const route = requested === undefined ? undefined : cookbook.routes?.get(requested)
    if (route !== undefined) {
      const ids = this.resolveAll(route.candidates)
      return ids.length === 0 ? undefined : { profileIds: ids, strategy: route.strategy, route: route.name }
    }
    const profileId = this.resolve(requested)
    if (profileId === undefined) return undefined
    const fallbacks = this.resolveAll(cookbook.fallbacks?.get(profileId) ?? []).filter((id) => id !== profileId)
    return { profileIds: [profileId, ...fallbacks], strategy: 'first-available', route: undefined }
  }

  private resolveAll(names: readonly string[]): string[] {
    const out: string[] = []
    for (const n of names) {
      const id = this.resolve(n)
      if (id !== undefined && !out.includes(id)) out.push(id)
    }
    return out
  }

  /**
   * What a million tokens of the model cost: this node's say for its own profiles and
   * backends, else the cheapest a fresh peer gossips; undefined when nobody says.
   */
  price(profileId: string): PriceState | undefined {
    const local = this.c.cookbook().profiles.get(profileId)
    if (local !== undefined) return this.c.localPrice?.(profileId) ?? local.price ?? { inputPerMtok: 0, outputPerMtok: 0 }
    const mine = this.backendModels(this.localBackends()).find(({ model }) => model.id === profileId)
    if (mine !== undefined) return mine.model.price
    let best: PriceState | undefined
    const consider = (p: PriceState | undefined): void => {
      if (p !== undefined && (best === undefined || p.inputPerMtok + p.outputPerMtok < best.inputPerMtok + best.outputPerMtok)) best = p
    }
    for (const { model } of this.remoteModels()) if (model.id === profileId) consider(model.price)
    for (const { model } of this.remoteBackendModels()) if (model.id === profileId) consider(model.price)
    return best
  }

  /**
   * The models the cookbook's `equivalents:` groups name beside this one (resolved, those
   * that exist somewhere now, the model itself left out).
   */
  equivalents(profileId: string): string[] {
    const out: string[] = []
    for (const group of this.c.cookbook().equivalents ?? []) {
      const ids = this.resolveAll(group)
      if (!ids.includes(profileId)) continue
      for (const id of ids) if (id !== profileId && !out.includes(id)) out.push(id)
    }
    return out
  }

  /** What the profile can serve, wherever it lives. */
  capabilities(profileId: string): Capabilities | undefined {
    const local = this.c.cookbook().profiles.get(profileId)
    if (local) return local.capabilities
    const remote = this.remoteModel((m) => m.id === profileId)?.capabilities
    if (remote) return remote
    const backend = this.backend(profileId)
    return backend === undefined ? undefined : backendCapabilities(backend.protocol)
  }

  /**
   * One entry per `model:profile` and per bare name, local entries winning over remote
   * ones, except a local entry whose file is missing where a peer has it (that peer serves it).
   */
  list(): CatalogEntry[] {
    const out = new Map<string, CatalogEntry>()
    const cookbook = this.c.cookbook()
    const created = Math.floor(this.c.startedAt / 1000)
    const status = (id: string): CatalogEntry['status'] => (this.c.fileMissing?.(id) === true ? 'missing_file' : 'ok')
    for (const p of cookbook.profiles.values()) {
      out.set(p.id, {
        id: p.id,
        profileId: p.id,
        ownedBy: this.c.nodeName,
        created,
        description: p.description,
        capabilities: p.capabilities,
        local: true,
        status: status(p.id),
      })
    }
    for (const [name, profileId] of cookbook.names) {
      const p = cookbook.profiles.get(profileId)
      if (p && !out.has(name))
        out.set(name, {
          id: name,
          profileId,
          ownedBy: this.c.nodeName,
          created,
          description: p.description,
          capabilities: p.capabilities,
          local: true,
          status: status(profileId),
        })
    }
    const addBackendModels = (
      list: { backend: BackendState; model: { id: string; names: string[] } }[],
      ownedBy: string,
      when: number,
      local: boolean,
    ): void => {
      for (const { backend, model } of list) {
        for (const id of [model.id, ...model.names]) {
          if (out.has(id)) continue
          const capabilities = backendCapabilities(backend.protocol)
          out.set(id, { id, profileId: model.id, ownedBy, created: when, description: undefined, capabilities, local, status: 'ok', backend: info(backend) })
        }
      }
    }
    addBackendModels(this.backendModels(this.localBackends()), this.c.nodeName, created, true)
    for (const { peer, model } of this.remoteModels()) {
      const peerCreated = Math.floor(peer.state.startedAt / 1000)
      const remoteStatus = model.fileMissing === true ? 'missing_file' : 'ok'
      for (const id of [model.id, ...model.names]) {
        const known = out.get(id)
        if (known !== undefined && !(known.status === 'missing_file' && remoteStatus === 'ok')) continue
        out.set(id, {
          id,
          profileId: model.id,
          ownedBy: peer.name,
          created: peerCreated,
          description: model.description,
          capabilities: model.capabilities,
          local: false,
          status: remoteStatus,
        })
      }
    }
    for (const peer of this.c.peers()) {
      if (peer.fresh) addBackendModels(this.backendModels(peer.state.backends ?? []), peer.name, Math.floor(peer.state.startedAt / 1000), false)
    }
    for (const r of cookbook.routes?.values() ?? []) {
      const ids = this.resolveAll(r.candidates)
      const first = ids[0]
      const caps = first === undefined ? undefined : this.capabilities(first)
      if (first === undefined || caps === undefined || out.has(r.name)) continue
      out.set(r.name, {
        id: r.name,
        profileId: first,
        ownedBy: this.c.nodeName,
        created,
        description: r.description,
        capabilities: caps,
        local: true,
        // A route answers as long as one candidate does: its own status is the first one's.
        status: out.get(first)?.status ?? 'ok',
        route: { candidates: ids, strategy: r.strategy },
        ...(out.get(first)?.backend === undefined ? {} : { backend: out.get(first)?.backend as BackendInfo }),
      })
    }
    return [...out.values()].sort((a, b) => a.id.localeCompare(b.id))
  }

  private localBackends(): BackendState[] {
    return this.c.backends?.() ?? []
  }

  private backendModels(backends: readonly BackendState[]): { backend: BackendState; model: BackendState['models'][number] }[] {
    return backends.flatMap((backend) => backend.models.map((model) => ({ backend, model })))
  }

  private remoteBackendModels(): { backend: BackendState; model: BackendState['models'][number] }[] {
    return this.c.peers().flatMap((peer) => (peer.fresh ? this.backendModels(peer.state.backends ?? []) : []))
  }

  /*
   * The lookups below run several times per request on a node that forwards it (resolve,
   * backend, capabilities): they walk the peers' states in place instead of building lists.
   */

  /** The first model a fresh peer gossips that `match` takes. */
  private remoteModel(match: (m: ModelState) => boolean): ModelState | undefined {
    for (const peer of this.c.peers()) {
      if (!peer.fresh) continue
      for (const model of peer.state.models) if (match(model)) return model
    }
    return undefined
  }

  /** The first backend model a fresh peer gossips that `match` takes, with its backend. */
  private remoteBackendModel(
    match: (m: BackendState['models'][number]) => boolean,
  ): { backend: BackendState; model: BackendState['models'][number] } | undefined {
    for (const peer of this.c.peers()) {
      if (!peer.fresh) continue
      for (const backend of peer.state.backends ?? []) for (const model of backend.models) if (match(model)) return { backend, model }
    }
    return undefined
  }

  private remoteModels(): { peer: RoutablePeer; model: ModelState }[] {
    const out: { peer: RoutablePeer; model: ModelState }[] = []
    for (const peer of this.c.peers()) {
      if (!peer.fresh) continue
      for (const model of peer.state.models) out.push({ peer, model })
    }
    return out
  }
}

function info(b: BackendState): BackendInfo {
  return { name: b.name, protocol: b.protocol, egress: b.egress }
}

/** What a backend model is taken to do, by its protocol (which endpoints it serves is the backends' table). */
export function backendCapabilities(protocol: BackendState['protocol']): Capabilities {
  return { completion: true, embeddings: protocol === 'openai', rerank: false }
}
