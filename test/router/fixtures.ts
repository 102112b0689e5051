/** Builders for the router tests: a model and a peer as gossip shows them to the router. */
import type { BackendState, ModelState, NodeState } from '../../src/mesh/types.ts'
import type { RoutablePeer } from '../../src/router/index.ts'

/** A `model:profile` nobody runs yet that would fit: a cold start. */
export function coldModel(id = 'm:default', over: Partial<ModelState> = {}): ModelState {
  const [name = id, profile = 'default'] = id.split(':')
  return {
    id,
    model: name,
    profile,
    names: [name],
    capabilities: { completion: true, embeddings: false, rerank: false },
    instances: 0,
    readyInstances: 0,
    slotsTotal: 0,
    slotsBusy: 0,
    queueLength: 0,
    maxInstances: 1,
    maxQueueSize: 8,
    tokensPerSecond: null,
    estimatedVramMb: null,
    estimatedSysmemMb: null,
    canFitNow: true,
    canFitAfterEviction: true,
    ...over,
  }
}

/** A `model:profile` with one ready instance and four free slots. */
export function loadedModel(id = 'm:default', over: Partial<ModelState> = {}): ModelState {
  return coldModel(id, { instances: 1, readyInstances: 1, slotsTotal: 4, ...over })
}

/** A fresh, ready peer serving `models` (and `backends`). */
export function routablePeer(id: string, models: ModelState[], over: { name?: string; backends?: BackendState[] } = {}): RoutablePeer {
  const state: NodeState = {
    id,
    name: over.name ?? id,
    herdVersion: 't',
    llamaVersion: null,
    startedAt: 1,
    seq: 1,
    status: 'ready',
    resources: { gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 },
    models,
    ...(over.backends === undefined ? {} : { backends: over.backends }),
    peers: [],
  }
  return { id, name: state.name, fresh: true, state }
}
