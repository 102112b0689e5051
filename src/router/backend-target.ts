/**
 * Backends as router targets. A backend model (`backend/model`) is served by this node's
 * backend of that name or by a peer that gossips one; each is scored by its free
 * concurrency (a free slot beats a place in its queue), and left out while it is down,
 * its circuit is open or its queue is full. A request saying `x-herd-no-egress` never
 * goes to a backend outside the network (`egress: true`).
 */
import type { BackendState } from '../mesh/types.ts'
import type { Candidate } from './scoring.ts'
import type { RouteRequest, UpstreamResponse } from './types.ts'

/** Request header: never send this request to an `egress: true` backend. Travels with forwards. */
export const NO_EGRESS_HEADER = 'x-herd-no-egress'

/** Response header: the model that really answered (`model:profile` or `backend/model`). */
export const MODEL_HEADER = 'x-herd-model'

/** What a header value asks: absent, `0`, `false`, `no` or `off` allow egress; anything else forbids it (fail closed). */
export function noEgressRequested(value: string | string[] | undefined): boolean {
  const v = (Array.isArray(value) ? value.join(',') : (value ?? '')).trim().toLowerCase()
  return v !== '' && !['0', 'false', 'no', 'off'].includes(v)
}

/** This node's backends, as far as routing needs them. */
export interface BackendTargets {
  /** The live state of the backend here serving this model id, if any. */
  find(modelId: string): BackendState | undefined
  /** Its `max_wait_in_queue_ms`. */
  maxWaitMs(modelId: string): number | undefined
  serve(req: RouteRequest): Promise<UpstreamResponse>
}

/** The backend in a gossiped list that serves a model id. */
export function backendFor(states: readonly BackendState[] | undefined, modelId: string): BackendState | undefined {
  return states?.find((b) => b.models.some((m) => m.id === modelId))
}

/** Tier and wait of one backend, or null when it cannot take a request now. */
export function scoreBackend(b: BackendState, pending: number): Pick<Candidate, 'tier' | 'wait'> | null {
  if (b.health === 'down' || b.circuit === 'open') return null
  const max = Math.max(1, b.maxConcurrency)
  const busy = b.inUse + b.queueLength + pending
  if (busy < b.maxConcurrency) return { tier: 0, wait: busy / max }
  if (b.queueLength + pending >= b.maxQueueSize) return null
  return { tier: 1, wait: (busy - b.maxConcurrency + 1) / max }
}

export interface BackendPeer {
  id: string
  /** For messages (and the client's waiting comments). */
  name?: string
  seq: number
  backend: BackendState
  /** Requests sent there since its last state. */
  pending: number
}

/**
 * The candidates for a backend model, unranked: this node's backend (if any) and peers'.
 * `egressSkipped`: some were left out only because the request forbids egress.
 */
export function backendCandidates(input: { local: BackendState | undefined; peers: readonly BackendPeer[]; noEgress: boolean }): {
  candidates: Candidate[]
  egressSkipped: boolean
} {
  const candidates: Candidate[] = []
  let egressSkipped = false
  const consider = (b: BackendState, pending: number): Pick<Candidate, 'tier' | 'wait'> | null => {
    if (input.noEgress && b.egress) {
      egressSkipped = true
      return null
    }
    return scoreBackend(b, pending)
  }
  if (input.local !== undefined) {
    const s = consider(input.local, 0)
    if (s) candidates.push({ nodeId: 'local', local: true, ...s })
  }
  for (const p of input.peers) {
    const s = consider(p.backend, p.pending)
    if (s) candidates.push({ nodeId: p.id, local: false, seq: p.seq, ...(p.name === undefined ? {} : { name: p.name }), ...s })
  }
  return { candidates, egressSkipped }
}
