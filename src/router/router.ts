/**
 * The router: for one request, rank this node and every fresh peer by how soon they can
 * serve it, then try them in order. An attempt that fails before the response head is
 * retried on the next candidate; after the head, the api relays whatever happens.
 */
import type { Logger } from 'pino'
import { HerdError, isHerdError, isRetryable } from '../errors/index.ts'
import type { ForwardRequest, ModelState, NodeState, PriceState, ResourceState } from '../mesh/types.ts'
import { byPrice } from './pricing.ts'
import { CircuitBreakers, type CircuitState } from './circuit-breaker.ts'
import { pastDeadline } from './deadline.ts'
import { DEFAULT_WAIT_BOUND_MS, WAIT_HEADER, waitHeader } from './wait-bound.ts'
import { serveLocal, sseError, type LocalTargetComponents } from './local-target.ts'
import { backendCandidates, backendFor, MODEL_HEADER, type BackendPeer, type BackendTargets } from './backend-target.ts'
import { PendingCounter } from './pending.ts'
import { rejectRemoteError } from './remote-error.ts'
import { memoryRoom, rank, score, type Candidate } from './scoring.ts'
import type { RouteRequest, UpstreamResponse, WaitState } from './types.ts'
import type { RouteStrategy } from '../config/types.ts'
import { attempting, endAtHead, endAtLastByte, forwardSpan, propagate, routeAttributes, SPAN } from '../telemetry/index.ts'

/** A peer as the router sees it (the mesh's view, narrowed). */
export interface RoutablePeer {
  id: string
  name: string
  fresh: boolean
  state: NodeState
}

export type { ForwardRequest }

/** Answers that say a peer is busy or full (or lacks the model's file), not that it is unwell: they never trip its circuit. */
const LOAD_REFUSALS: ReadonlySet<string> = new Set(['queue_full', 'queue_timeout', 'draining', 'no_capacity', 'model_file_missing'])
/** A peer's answer about the backend it holds, not about itself: its own gossip reports the backend's health. */
const BACKEND_FAULTS: ReadonlySet<string> = new Set(['upstream_error', 'upstream_timeout', 'upstream_rate_limited', 'no_route'])

/** The mesh, as far as routing needs it. Absent when the mesh is off. */
export interface RemoteTargets {
  peers(): readonly RoutablePeer[]
  /**
   * `onWaiting` hears what the peer says the request waits on (a cold start, a queue) until its response head.
   * `endEventStream`: the last event of an event stream that fails after its head (its body then ends with it and is `guarded`).
   */
  forward(
    peerId: string,
    req: ForwardRequest,
    options: { signal: AbortSignal; onWaiting?: (state: WaitState) => void; endEventStream?: (err: Error) => string },
  ): Promise<UpstreamResponse>
}

export interface RouterComponents {
  logger: Logger
  local: LocalTargetComponents
  /** This node's own models with live load, as it gossips them. */
  localModels: () => ModelState[]
  /** One of them (what routing a request needs: not every model's state built per request). Absent: looked up in localModels(). */
  localModel?: (profileId: string) => ModelState | undefined
  /** This node's memory, as it gossips it. */
  localResources: () => ResourceState
  /** Whether this node is draining (then it serves nothing new). */
  draining: () => boolean
  remote?: RemoteTargets
  /** This node's external backends (absent: none). */
  backends?: BackendTargets
  /** A model's price (the catalog's), for the `cheapest` strategy. Absent: none known. */
  price?: (profileId: string) => PriceState | undefined
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

  /**
   * Serve a request: its model, or (for a route name, or a model with `fallbacks`) the
   * first of its alternatives, in the strategy's order, that can answer before the first
   * byte. Every answer names the model that gave it in `x-herd-model`.
   */
  async route(req: RouteRequest): Promise<UpstreamResponse> {
    const alternatives = req.hops === 0 ? (req.alternatives ?? []) : []
    if (alternatives.length === 0) return this.named(await this.routeModel(req), req.profileId)
    const order = this.order([req.profileId, ...alternatives], req.strategy ?? 'first-available', req.noEgress === true)
    // One wait bound for all of them, as for all the nodes of one model.
    const shared = { ...req, alternatives: undefined, deadline: req.deadline ?? Date.now() + this.waitBoundMs(order[0] ?? req.profileId) }
    let lastError: unknown
    for (const profileId of order) {
      if (req.signal.aborted) throw req.signal.reason
      try {
        return this.named(await this.routeModel({ ...shared, profileId }), profileId)
      } catch (err: unknown) {
        lastError = err
        if (req.signal.aborted || !canFallBack(err)) throw err
        this.c.logger.warn(
          { request_id: req.requestId, model: profileId, err: errorMessage(err) },
          'model could not answer before the first byte; trying the next one',
        )
      }
    }
    throw lastError
  }

  /** Alternatives in the order a strategy tries them (stable: ties keep the cookbook's order). */
  private order(profileIds: readonly string[], strategy: RouteStrategy, noEgress: boolean): string[] {
    if (strategy === 'cheapest') return byPrice([...new Set(profileIds)], (id) => this.c.price?.(id))
    if (strategy !== 'least-busy') return [...new Set(profileIds)]
    const best = (id: string): { tier: number; wait: number } => this.ranked(id, noEgress).candidates[0] ?? { tier: Infinity, wait: Infinity }
    return [...new Set(profileIds)]
      .map((id, i) => ({ id, i, b: best(id) }))
      .sort((a, b) => a.b.tier - b.b.tier || a.b.wait - b.b.wait || a.i - b.i)
      .map((x) => x.id)
  }

  private waitBoundMs(profileId: string): number {
    return this.c.local.profile(profileId)?.maxWaitInQueueMs ?? this.c.backends?.maxWaitMs(profileId) ?? DEFAULT_WAIT_BOUND_MS
  }

  /** The answer, saying which model gave it (a peer's or backend's own say wins: it knows best). */
  private named(res: UpstreamResponse, profileId: string): UpstreamResponse {
    // Every target builds the headers of each answer afresh: they are the router's to add to (no copy per request).
    res.headers[MODEL_HEADER] ??= profileId
    return res
  }

  /**
   * Not async: the candidates loop (tryInOrder) is the one async frame on the way, traced
   * or not. A refusal may be thrown synchronously; route() awaits it, so it rejects the same.
   */
  private routeModel(req: RouteRequest): Promise<UpstreamResponse> {
    if (req.hops > this.maxHops) {
      throw new HerdError('max_hops', `request was forwarded ${req.hops} times, more than mesh.max_hops (${this.maxHops})`)
    }
    if (this.c.draining()) throw new HerdError('draining', 'this node is shutting down', { retryAfterSeconds: 1 })
    // One wait bound for the whole mesh: the first node sets it, every node honours it.
    const deadline = req.deadline ?? Date.now() + this.waitBoundMs(req.profileId)
    req = { ...req, deadline }
    // A forwarded request is served where it lands: requests never ping-pong.
    if (req.hops > 0) return this.serveHere(req)

    const { candidates, cannotFit, fileMissing, egressSkipped } = this.ranked(req.profileId, req.noEgress === true)
    if (cannotFit.length > 0)
      this.c.logger.info({ request_id: req.requestId, model: req.profileId, nodes: cannotFit }, 'skipping nodes where the model cannot fit')
    if (fileMissing.length > 0)
      this.c.logger.info({ request_id: req.requestId, model: req.profileId, nodes: fileMissing }, 'skipping nodes where the model file is missing')
    if (candidates.length === 0) {
      // Nobody looks able to take it now; if we serve the model, let the supervisor queue or refuse it with its own reason.
      if (this.c.local.profile(req.profileId) || this.c.backends?.find(req.profileId)) return this.serveHere(req)
      if (egressSkipped) {
        throw new HerdError('no_route', `only backends outside the network (egress: true) serve '${req.profileId}', and the request says x-herd-no-egress`, {
          retryAfterSeconds: 5,
        })
      }
      if (cannotFit.length > 0) {
        throw new HerdError('no_capacity', `no node has room for '${req.profileId}' (it cannot fit on ${cannotFit.join(', ')})`, { retryAfterSeconds: 5 })
      }
      if (fileMissing.length > 0) {
        throw new HerdError('model_file_missing', `the model file for '${req.profileId}' is missing on ${fileMissing.join(', ')}`)
      }
      throw new HerdError('no_route', `no node can serve '${req.profileId}' right now`, { retryAfterSeconds: 2 })
    }
    const span = req.trace?.child(SPAN.route, routeAttributes(req.profileId, candidates, this.c.local.nodeName))
    if (span === undefined) return this.tryInOrder(candidates, req, deadline)
    return endAtHead(span, this.tryInOrder(candidates, { ...req, trace: span }, deadline))
  }

  /** Each candidate in turn until one answers with a head; a failure before it moves on while that may help. */
  private async tryInOrder(candidates: Candidate[], req: RouteRequest, deadline: number): Promise<UpstreamResponse> {
    let lastError: unknown
    let tries = 0
    for (const candidate of candidates) {
      if (req.signal.aborted) throw req.signal.reason
      // Past the mesh-wide deadline the next candidate would only wait in vain.
      if (lastError !== undefined && Date.now() >= deadline) break
      try {
        attempting(req.trace, candidate.local ? this.c.local.nodeName : (candidate.name ?? candidate.nodeId), ++tries)
        return await this.attempt(candidate, req)
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
    const model = req.profileId
    const node = candidate.local ? this.c.local.nodeName : (candidate.name ?? candidate.nodeId)
    const onWaiting = req.onWaiting
    // Until the target says more (a load, a queue), the client hears whom it waits on; a retry names the next node.
    onWaiting?.(() => ({ kind: 'waiting', model, node }))
    if (candidate.local) return this.serveHere(req)
    const remote = this.c.remote
    if (!remote) throw new HerdError('peer_unavailable', 'the mesh is off')
    const peerId = candidate.nodeId
    this.circuits.attempt(peerId)
    if (candidate.seq !== undefined) this.pending.add(peerId, candidate.seq)
    let res: UpstreamResponse
    const span = forwardSpan(req.trace, peerId, node, req.hops + 1)
    try {
      const headers = req.deadline === undefined ? req.headers : { ...req.headers, [WAIT_HEADER]: waitHeader(req.deadline) }
      const forwarded = remote.forward(
        peerId,
        {
          requestId: req.requestId,
          method: req.method ?? 'POST',
          path: req.path,
          headers: propagate(span, headers),
          hops: req.hops + 1,
          body: req.body,
        },
        {
          signal: req.signal,
          // A failure after the head ends an event stream here, in the client's error shape (the span hears of it first).
          endEventStream: (err) => {
            span?.fail(err)
            return sseError(err, req.errorShape)
          },
          ...(onWaiting === undefined ? {} : { onWaiting: (state: WaitState) => onWaiting(() => ({ ...state, model, node })) }),
        },
      )
      const answer = await endAtLastByte(span, forwarded)
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
  private rankedBackends(profileId: string, noEgress: boolean): Ranked {
    const peers: BackendPeer[] = []
    for (const peer of this.c.remote?.peers() ?? []) {
      if (!peer.fresh || peer.state.status !== 'ready' || !this.circuits.allow(peer.id)) continue
      const backend = backendFor(peer.state.backends, profileId)
      if (backend) peers.push({ id: peer.id, name: peer.name, seq: peer.state.seq, backend, pending: this.pending.count(peer.id, peer.state.seq) })
    }
    const { candidates, egressSkipped } = backendCandidates({ local: this.c.backends?.find(profileId), peers, noEgress })
    return { candidates: rank(candidates), cannotFit: [], fileMissing: [], egressSkipped }
  }

  /** The candidates, and the names of nodes left out because a cold start cannot fit there, or their model file is missing. */
  private ranked(profileId: string, noEgress: boolean): Ranked {
    if (this.isBackendModel(profileId)) return this.rankedBackends(profileId, noEgress)
    const out: Candidate[] = []
    const cannotFit: string[] = []
    const fileMissing: string[] = []
    const noRoom = (m: ModelState): boolean => m.instances === 0 && !m.canFitNow && !m.canFitAfterEviction
    const leftOut = (m: ModelState, name: string): void => {
      if (noRoom(m)) (m.fileMissing === true ? fileMissing : cannotFit).push(name)
    }
    const localModel = this.c.localModel !== undefined ? this.c.localModel(profileId) : this.c.localModels().find((m) => m.id === profileId)
    if (localModel && this.c.local.profile(profileId)) {
      const s = score({ nodeId: 'local', local: true, model: localModel, pending: 0, ...memoryRoom(this.c.localResources()) })
      if (s) out.push(s)
      else leftOut(localModel, this.c.local.nodeName)
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
      if (s) out.push({ ...s, seq: peer.state.seq, name: peer.name })
      else leftOut(model, peer.name)
    }
    return { candidates: rank(out), cannotFit, fileMissing, egressSkipped: false }
  }
}

interface Ranked {
  candidates: Candidate[]
  cannotFit: string[]
  fileMissing: string[]
  /** Some candidates were left out only because the request forbids egress. */
  egressSkipped: boolean
}

/** Whether the next model may serve instead: this one failed or had no room, not the request. */
function canFallBack(err: unknown): boolean {
  return isRetryable(err) || (isHerdError(err) && ['no_route', 'model_not_found', 'model_file_missing'].includes(err.code))
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
