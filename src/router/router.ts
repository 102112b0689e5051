/**
 * The router: for one request, rank this node and every fresh peer by how soon they can
 * serve it, then try them in order. An attempt that fails before the response head is
 * retried on the next candidate; after the head, the api relays whatever happens.
 */
import type { Logger } from 'pino'
import { HerdError, isHerdError, isRetryable } from '../errors/index.ts'
import type { ForwardRequest, ModelState, NodeState, ResourceState } from '../mesh/types.ts'
import { CircuitBreakers, type CircuitState } from './circuit-breaker.ts'
import { pastDeadline } from './deadline.ts'
import { DEFAULT_WAIT_BOUND_MS, WAIT_HEADER, waitHeader } from './wait-bound.ts'
import { serveLocal, type LocalTargetComponents } from './local-target.ts'
import { backendCandidates, backendFor, MODEL_HEADER, type BackendPeer, type BackendTargets } from './backend-target.ts'
import { PendingCounter } from './pending.ts'
import { rejectRemoteError } from './remote-error.ts'
import { memoryRoom, rank, score, type Candidate } from './scoring.ts'
import type { RouteRequest, UpstreamResponse } from './types.ts'

/** A peer as the router sees it (the mesh's view, narrowed). */
export interface RoutablePeer {
  id: string
  name: string
  fresh: boolean
  state: NodeState
}

export type { ForwardRequest }

/** Answers that say a peer is busy or full, not that it is unwell: they never trip its circuit. */
const LOAD_REFUSALS: ReadonlySet<string> = new Set(['queue_full', 'queue_timeout', 'draining', 'no_capacity'])
/** A peer's answer about the backend it holds, not about itself: its own gossip reports the backend's health. */
const BACKEND_FAULTS: ReadonlySet<string> = new Set(['upstream_error', 'upstream_timeout', 'upstream_rate_limited', 'no_route'])

/** The mesh, as far as routing needs it. Absent when the mesh is off. */
export interface RemoteTargets {
  peers(): RoutablePeer[]
  forward(peerId: string, req: ForwardRequest, options: { signal: AbortSignal }): Promise<UpstreamResponse>
}

export interface RouterComponents {
  logger: Logger
  local: LocalTargetComponents
  /** This node's own models with live load, as it gossips them. */
  localModels: () => ModelState[]
  /** This node's memory, as it gossips it. */
  localResources: () => ResourceState
  /** Whether this node is draining (then it serves nothing new). */
  draining: () => boolean
  remote?: RemoteTargets
  /** This node's external backends (absent: none). */
  backends?: BackendTargets
}

export interface RouterInit {
  maxHops?: number
  circuit?: ConstructorParameters<typeof CircuitBreakers>[0]
}

export class Router {
  private readonly c: RouterComponents
  private readonly maxHops: number
  readonly circuits: CircuitBreakers
  private readonly pending = new PendingCounter()

  constructor(components: RouterComponents, init: RouterInit = {}) {
    this.c = components
    this.maxHops = init.maxHops ?? 2
    this.circuits = new CircuitBreakers(init.circuit)
  }

  /** Circuit state per peer, for /cluster/nodes. */
  circuit(peerId: string): CircuitState {
    return this.circuits.get(peerId)
  }

  async route(req: RouteRequest): Promise<UpstreamResponse> {
    if (req.hops > this.maxHops) {
      throw new HerdError('max_hops', `request was forwarded ${req.hops} times, more than mesh.max_hops (${this.maxHops})`)
    }
    if (this.c.draining()) throw new HerdError('draining', 'this node is shutting down', { retryAfterSeconds: 1 })
    // One wait bound for the whole mesh: the first node sets it, every node honours it.
    const bound = this.c.local.profile(req.profileId)?.maxWaitInQueueMs ?? this.c.backends?.maxWaitMs(req.profileId) ?? DEFAULT_WAIT_BOUND_MS
    const deadline = req.deadline ?? Date.now() + bound
    req = { ...req, deadline }
    // A forwarded request is served where it lands: requests never ping-pong.
    if (req.hops > 0) return named(await this.serveHere(req), req.profileId, true)

    const { candidates, cannotFit, egressSkipped } = this.ranked(req.profileId, req.noEgress === true)
    if (cannotFit.length > 0)
      this.c.logger.info({ request_id: req.requestId, model: req.profileId, nodes: cannotFit }, 'skipping nodes where the model cannot fit')
    if (candidates.length === 0) {
      // Nobody looks able to take it now; if we serve the model, let the supervisor queue or refuse it with its own reason.
      if (this.c.local.profile(req.profileId) || this.c.backends?.find(req.profileId)) return named(await this.serveHere(req), req.profileId, true)
      if (egressSkipped) {
        throw new HerdError('no_route', `only backends outside the network (egress: true) serve '${req.profileId}', and the request says x-herd-no-egress`, {
          retryAfterSeconds: 5,
        })
      }
      if (cannotFit.length > 0) {
        throw new HerdError('no_capacity', `no node has room for '${req.profileId}' (it cannot fit on ${cannotFit.join(', ')})`, { retryAfterSeconds: 5 })
      }
      throw new HerdError('no_route', `no node can serve '${req.profileId}' right now`, { retryAfterSeconds: 2 })
    }
    let lastError: unknown
    for (const candidate of candidates) {
      if (req.signal.aborted) throw req.signal.reason
      // Past the mesh-wide deadline the next candidate would only wait in vain.
      if (lastError !== undefined && Date.now() >= deadline) break
      try {
        return named(await this.attempt(candidate, req), req.profileId, candidate.local)
      } catch (err: unknown) {
        lastError = err
        // A request whose max_request_duration_ms is used up is not started again elsewhere.
        if (req.signal.aborted || !isRetryable(err) || pastDeadline(req.receivedAt, this.c.local.profile(req.profileId)?.maxRequestDurationMs)) throw err
        this.c.logger.warn(
          { request_id: req.requestId, node: candidate.nodeId, err: errorMessage(err) },
          'attempt failed before the first byte; trying the next candidate',
        )
      }
    }
    throw lastError
  }

  /** Served on this node: by one of its backends, or its own llama-server. */
  private serveHere(req: RouteRequest): Promise<UpstreamResponse> {
    if (this.c.backends?.find(req.profileId) !== undefined) return this.c.backends.serve(req)
    return serveLocal(this.c.local, req)
  }

  private async attempt(candidate: Candidate, req: RouteRequest): Promise<UpstreamResponse> {
    if (candidate.local) return this.serveHere(req)
    const remote = this.c.remote
    if (!remote) throw new HerdError('peer_unavailable', 'the mesh is off')
    const peerId = candidate.nodeId
    this.circuits.attempt(peerId)
    if (candidate.seq !== undefined) this.pending.add(peerId, candidate.seq)
    let res: UpstreamResponse
    try {
      const headers = req.deadline === undefined ? req.headers : { ...req.headers, [WAIT_HEADER]: waitHeader(req.deadline) }
      const answer = await remote.forward(
        peerId,
        {
          requestId: req.requestId,
          method: req.method ?? 'POST',
          path: req.path,
          headers,
          hops: req.hops + 1,
          body: req.body,
        },
        { signal: req.signal },
      )
      // An error envelope is a failed attempt, not a success: look before counting.
      res = await rejectRemoteError(answer, peerId)
    } catch (err: unknown) {
      // Load answers (queue full, draining) and our own client leaving say nothing about the peer's health.
      const code = isHerdError(err) ? err.code : undefined
      const neutral = code !== undefined && (LOAD_REFUSALS.has(code) || (BACKEND_FAULTS.has(code) && this.isBackendModel(req.profileId)))
      if (req.signal.aborted || neutral) this.circuits.neutral(peerId)
      else this.circuits.failure(peerId)
      throw err
    }
    this.circuits.success(peerId)
    return res
  }

  /** Every node that can serve the profile, best first. */
  candidates(profileId: string, options: { noEgress?: boolean } = {}): Candidate[] {
    return this.ranked(profileId, options.noEgress === true).candidates
  }

  /** Whether the id is an external backend's model, here or on a fresh peer. */
  private isBackendModel(profileId: string): boolean {
    if (this.c.backends?.find(profileId) !== undefined) return true
    return (this.c.remote?.peers() ?? []).some((p) => p.fresh && backendFor(p.state.backends, profileId) !== undefined)
  }

  /** This node's backend and every fresh peer's that serve a backend model, ranked by free concurrency. */
  private rankedBackends(profileId: string, noEgress: boolean): { candidates: Candidate[]; cannotFit: string[]; egressSkipped: boolean } {
    const peers: BackendPeer[] = []
    for (const peer of this.c.remote?.peers() ?? []) {
      if (!peer.fresh || peer.state.status !== 'ready' || !this.circuits.allow(peer.id)) continue
      const backend = backendFor(peer.state.backends, profileId)
      if (backend) peers.push({ id: peer.id, seq: peer.state.seq, backend, pending: this.pending.count(peer.id, peer.state.seq) })
    }
    const { candidates, egressSkipped } = backendCandidates({ local: this.c.backends?.find(profileId), peers, noEgress })
    return { candidates: rank(candidates), cannotFit: [], egressSkipped }
  }

  /** The candidates, and the names of nodes left out because a cold start cannot fit there. */
  private ranked(profileId: string, noEgress: boolean): { candidates: Candidate[]; cannotFit: string[]; egressSkipped: boolean } {
    if (this.isBackendModel(profileId)) return this.rankedBackends(profileId, noEgress)
    const out: Candidate[] = []
    const cannotFit: string[] = []
    const noRoom = (m: ModelState): boolean => m.instances === 0 && !m.canFitNow && !m.canFitAfterEviction
    const localModel = this.c.localModels().find((m) => m.id === profileId)
    if (localModel && this.c.local.profile(profileId)) {
      const s = score({ nodeId: 'local', local: true, model: localModel, pending: 0, ...memoryRoom(this.c.localResources()) })
      if (s) out.push(s)
      else if (noRoom(localModel)) cannotFit.push(this.c.local.nodeName)
    }
    for (const peer of this.c.remote?.peers() ?? []) {
      if (!peer.fresh || peer.state.status !== 'ready' || !this.circuits.allow(peer.id)) continue
      const model = peer.state.models.find((m) => m.id === profileId)
      if (!model) continue
      const s = score({
        nodeId: peer.id,
        local: false,
        model,
        pending: this.pending.count(peer.id, peer.state.seq),
        ...memoryRoom(peer.state.resources),
      })
      if (s) out.push({ ...s, seq: peer.state.seq })
      else if (noRoom(model)) cannotFit.push(peer.name)
    }
    return { candidates: rank(out), cannotFit, egressSkipped: false }
  }
}

/** Every answer says which model really answered; a peer's own word is kept, ours set otherwise. */
function named(res: UpstreamResponse, profileId: string, here: boolean): UpstreamResponse {
  if (!here && res.headers[MODEL_HEADER] !== undefined) return res
  return { ...res, headers: { ...res.headers, [MODEL_HEADER]: profileId } }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
