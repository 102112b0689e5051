/**
 * Per-peer circuit breaker: after `threshold` consecutive failures the peer is skipped
 * ("open") for a backoff that doubles on every failed probe; when it elapses one request
 * may probe ("half-open"); a success closes the circuit.
 */

export type CircuitState =
  { state: 'closed'; failures: number } | { state: 'open'; until: number; backoffMs: number } | { state: 'half-open'; backoffMs: number; probing: boolean }

/** The longest a target's own `Retry-After` keeps its circuit open. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000

export interface CircuitBreakerInit {
  /** Consecutive failures that open the circuit. Default 3. */
  threshold?: number
  /** First open period. Default 1000 ms. */
  baseBackoffMs?: number
  /** Longest open period. Default 30 s. */
  maxBackoffMs?: number
  now?: () => number
}

export class CircuitBreakers {
  private readonly circuits = new Map<string, CircuitState>()
  private readonly threshold: number
  private readonly baseBackoffMs: number
  private readonly maxBackoffMs: number
  private readonly now: () => number

  constructor(init: CircuitBreakerInit = {}) {
    this.threshold = init.threshold ?? 3
    this.baseBackoffMs = init.baseBackoffMs ?? 1000
    this.maxBackoffMs = init.maxBackoffMs ?? 30_000
    this.now = init.now ?? Date.now
  }

  /** The circuit as it stands now (an elapsed open period reads as half-open). */
  get(peer: string): CircuitState {
    const c = this.circuits.get(peer) ?? { state: 'closed', failures: 0 }
    if (c.state === 'open' && this.now() >= c.until) {
      const half: CircuitState = { state: 'half-open', backoffMs: c.backoffMs, probing: false }
      this.circuits.set(peer, half)
      return half
    }
    return c
  }

  /** May a request go to this peer now? A half-open circuit lets exactly one probe through. */
  allow(peer: string): boolean {
    const c = this.get(peer)
    if (c.state === 'closed') return true
    if (c.state === 'open') return false
    return !c.probing
  }

  /** Mark that a request is on its way (takes the half-open probe). */
  attempt(peer: string): void {
    const c = this.get(peer)
    if (c.state === 'half-open') this.circuits.set(peer, { ...c, probing: true })
  }

  /** The attempt said nothing about the peer's health (a load refusal, our client left): a half-open probe may be tried again. */
  neutral(peer: string): void {
    const c = this.get(peer)
    if (c.state === 'half-open' && c.probing) this.circuits.set(peer, { ...c, probing: false })
  }

  success(peer: string): void {
    this.circuits.delete(peer)
  }

  /**
   * A failed attempt. With `retryAfterMs` (the target answered 429 or 503 with
   * `Retry-After`) the circuit opens at once, for at least that long (up to
   * MAX_RETRY_AFTER_MS): it said when to come back.
   */
  failure(peer: string, options: { retryAfterMs?: number } = {}): void {
    const c = this.get(peer)
    const told = options.retryAfterMs
    if (told !== undefined && told > 0) {
      const backoff = c.state === 'closed' ? this.baseBackoffMs : Math.min(this.maxBackoffMs, c.backoffMs * 2)
      this.open(peer, Math.max(backoff, Math.min(told, MAX_RETRY_AFTER_MS)))
      return
    }
    if (c.state === 'closed') {
      const failures = c.failures + 1
      if (failures < this.threshold) {
        this.circuits.set(peer, { state: 'closed', failures })
        return
      }
      this.open(peer, this.baseBackoffMs)
      return
    }
    // A failed probe (or a late failure while open) doubles the backoff.
    this.open(peer, Math.min(this.maxBackoffMs, c.backoffMs * 2))
  }

  /** Milliseconds until an open circuit lets a probe through (0 when it is not open). */
  remainingMs(peer: string): number {
    const c = this.get(peer)
    return c.state === 'open' ? Math.max(0, c.until - this.now()) : 0
  }

  /** Forget a peer (it left the mesh). */
  forget(peer: string): void {
    this.circuits.delete(peer)
  }

  private open(peer: string, backoffMs: number): void {
    this.circuits.set(peer, { state: 'open', until: this.now() + backoffMs, backoffMs })
  }
}
