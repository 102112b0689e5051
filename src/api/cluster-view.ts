/** The /cluster/nodes view: this node first, then every peer as we see it, with ages and circuits. */
import type { NodeState } from '../mesh/types.ts'
import type { CircuitState } from '../router/index.ts'

export interface PeerLike {
  id: string
  name: string
  state: NodeState
  ageMs: number
  fresh: boolean
  connected: boolean
  addrs: string[]
}

export interface ClusterNodeView {
  id: string
  name: string
  self: boolean
  status: NodeState['status']
  fresh: boolean
  connected: boolean
  age_ms: number
  seq: number
  addrs: string[]
  herd_version: string
  llama_cpp: string | null
  started_at: string
  circuit: CircuitState['state'] | null
  resources: NodeState['resources']
  models: NodeState['models']
  /** External backends the node serves: health, circuit, in use / max concurrency (never a URL or key: gossip carries none). */
  backends: NonNullable<NodeState['backends']>
  /** Its traffic of the last minutes, as gossiped (null: a node that predates it). */
  traffic: NodeState['traffic'] | null
}

export function clusterView(self: NodeState, selfAddrs: string[], peers: readonly PeerLike[], circuit: (id: string) => CircuitState): ClusterNodeView[] {
  const row = (
    s: NodeState,
    extra: { self: boolean; fresh: boolean; connected: boolean; ageMs: number; addrs: string[]; circuit: CircuitState['state'] | null },
  ): ClusterNodeView => ({
    id: s.id,
    name: s.name,
    self: extra.self,
    status: s.status,
    fresh: extra.fresh,
    connected: extra.connected,
    age_ms: Math.round(extra.ageMs),
    seq: s.seq,
    addrs: extra.addrs,
    herd_version: s.herdVersion,
    llama_cpp: s.llamaVersion,
    started_at: new Date(s.startedAt).toISOString(),
    circuit: extra.circuit,
    resources: s.resources,
    models: s.models,
    backends: s.backends ?? [],
    traffic: s.traffic ?? null,
  })
  return [
    row(self, { self: true, fresh: true, connected: true, ageMs: 0, addrs: selfAddrs, circuit: null }),
    ...peers.map((p) => row(p.state, { self: false, fresh: p.fresh, connected: p.connected, ageMs: p.ageMs, addrs: p.addrs, circuit: circuit(p.id).state })),
  ]
}
