/**
 * Where a request goes. herd: the real score()/rank() of src/router over the receiving
 * node's live ModelStates and its peers' last gossiped ones (plus the real PendingCounter),
 * trying candidates in order as Router.route does while nothing has been sent back yet.
 * Round-robin: the next node whose cookbook lists the model, one attempt, whatever its load.
 */
import type { NodeState, ResourceState } from '../../src/mesh/types.ts'
import { memoryRoom, rank as realRank, score as realScore, type Candidate, type ScoreInput } from '../../src/router/index.ts'
import { PendingCounter } from '../../src/router/pending.ts'
import type { SimNode } from './placement-node.ts'
import type { Outcome } from './placement-pool.ts'
import type { SimRequest } from './placement-scenario.ts'

export interface Cluster {
  nodes: readonly SimNode[]
  /** What every other node last heard from this one. */
  view(node: SimNode): NodeState
}

/** Settles once per request, with the node that served it (or refused last). */
export type Settle = (o: Outcome, node: SimNode | undefined) => void

export interface Policy {
  name: string
  route(req: SimRequest, cluster: Cluster, settle: Settle): void
}

export interface Scoring {
  score: (input: ScoreInput) => Candidate | null
  rank: (cs: Candidate[]) => Candidate[]
  /** ScoreInput.freeMemoryMb from a node's resources (router.ts: free VRAM, else free RAM). */
  freeMemory: (r: ResourceState) => number | null
}

export const HERD_SCORING: Scoring = {
  score: realScore,
  rank: realRank,
  freeMemory: (r) => memoryRoom(r).freeMemoryMb,
}

export function herdPolicy(name: string, scoring: Scoring = HERD_SCORING): Policy {
  const pending = new Map<SimNode, PendingCounter>()
  return {
    name,
    route(req, cluster, settle) {
      const origin = cluster.nodes[req.origin] as SimNode
      const counter = pending.get(origin) ?? new PendingCounter()
      pending.set(origin, counter)
      const out: Candidate[] = []
      const local = origin.serves(req.profileId) ? origin.models().find((m) => m.id === req.profileId) : undefined
      if (local) {
        const s = scoring.score({
          nodeId: origin.spec.name,
          local: true,
          model: local,
          pending: 0,
          freeMemoryMb: scoring.freeMemory(origin.resources()),
          gpu: origin.resources().gpus.length > 0,
        })
        if (s) out.push(s)
      }
      for (const peer of cluster.nodes) {
        if (peer === origin) continue
        const state = cluster.view(peer)
        const model = state.models.find((m) => m.id === req.profileId)
        if (!model) continue
        const s = scoring.score({
          nodeId: peer.spec.name,
          local: false,
          model,
          pending: counter.count(peer.spec.name, state.seq),
          freeMemoryMb: scoring.freeMemory(state.resources),
          gpu: state.resources.gpus.length > 0,
        })
        if (s) out.push({ ...s, seq: state.seq })
      }
      const ranked = scoring.rank(out)
      if (ranked.length === 0) {
        // Nobody looks able: serve it here if we can, and let the pool queue or refuse it.
        if (local) return origin.pools.get(req.profileId)?.acquire(req, (o) => settle(o, origin))
        return settle({ ok: false, code: 'no_route' }, undefined)
      }
      const attempt = (i: number): void => {
        const c = ranked[i] as Candidate
        const node = cluster.nodes.find((n) => n.spec.name === c.nodeId) as SimNode
        if (!c.local && c.seq !== undefined) counter.add(c.nodeId, c.seq)
        node.pools.get(req.profileId)?.acquire(req, (o) => {
          // A refusal before the response head is retried on the next candidate.
          if (!o.ok && i + 1 < ranked.length) attempt(i + 1)
          else settle(o, node)
        })
      }
      attempt(0)
    },
  }
}

export function roundRobinPolicy(): Policy {
  const turn = new Map<string, number>()
  return {
    name: 'round-robin',
    route(req, cluster, settle) {
      const serving = cluster.nodes.filter((n) => n.serves(req.profileId))
      const k = turn.get(req.profileId) ?? 0
      turn.set(req.profileId, k + 1)
      const node = serving[k % serving.length]
      if (!node) return settle({ ok: false, code: 'no_route' }, undefined)
      node.pools.get(req.profileId)?.acquire(req, (o) => settle(o, node))
    },
  }
}
