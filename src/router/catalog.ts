/**
 * Which models exist, mesh-wide: this node's cookbook first, then what fresh peers
 * gossip. Resolves what a client typed (`name`, `name:profile`, an alias) to one
 * `model:profile`, and lists the union for /v1/models.
 */
import type { Capabilities, Cookbook } from '../config/types.ts'
import type { ModelState } from '../mesh/types.ts'
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
}

export interface CatalogComponents {
  nodeName: string
  startedAt: number
  cookbook: () => Cookbook
  peers: () => RoutablePeer[]
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
    for (const { model } of this.remoteModels()) {
      if (model.id === requested || model.names.includes(requested)) return model.id
    }
    return undefined
  }

  /** What the profile can serve, wherever it lives. */
  capabilities(profileId: string): Capabilities | undefined {
    const local = this.c.cookbook().profiles.get(profileId)
    if (local) return local.capabilities
    return this.remoteModels().find(({ model }) => model.id === profileId)?.model.capabilities
  }

  /** One entry per `model:profile` and per bare name, local entries winning over remote ones. */
  list(): CatalogEntry[] {
    const out = new Map<string, CatalogEntry>()
    const cookbook = this.c.cookbook()
    const created = Math.floor(this.c.startedAt / 1000)
    for (const p of cookbook.profiles.values()) {
      out.set(p.id, { id: p.id, profileId: p.id, ownedBy: this.c.nodeName, created, description: p.description, capabilities: p.capabilities, local: true })
    }
    for (const [name, profileId] of cookbook.names) {
      const p = cookbook.profiles.get(profileId)
      if (p && !out.has(name))
        out.set(name, { id: name, profileId, ownedBy: this.c.nodeName, created, description: p.description, capabilities: p.capabilities, local: true })
    }
    for (const { peer, model } of this.remoteModels()) {
      const peerCreated = Math.floor(peer.state.startedAt / 1000)
      for (const id of [model.id, ...model.names]) {
        if (out.has(id)) continue
        out.set(id, {
          id,
          profileId: model.id,
          ownedBy: peer.name,
          created: peerCreated,
          description: model.description,
          capabilities: model.capabilities,
          local: false,
        })
      }
    }
    return [...out.values()].sort((a, b) => a.id.localeCompare(b.id))
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
