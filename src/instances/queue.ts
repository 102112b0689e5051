/**
 * The FIFO of requests waiting for a slot. A waiter leaves it by being served, by its
 * signal aborting (rejects with the signal's reason), or by its wait timing out. What a
 * waiter is handed is a Lease for the supervisor's pools; the backends' concurrency limit
 * hands out its own slots through the same queue.
 */
import type { HerdError } from '../errors/index.ts'
import type { Lease, QueueWait } from './types.ts'

/** What the owning pool decides for its line. */
export interface QueuePolicy {
  /** How many waiters at the head starting instances will serve (their wait is a cold start's). */
  owed(): number
  /** The 'queue_timeout' error for a waiter that was `at` in line. */
  timeoutError(at: number): HerdError
  /** The line changed outside a pump (a waiter left). */
  changed(): void
}

export interface Waiter<T = Lease> {
  readonly requestId: string | undefined
  readonly enqueuedAt: number
  /** When its wait runs out (epoch ms). */
  readonly expiresAt: number
  /** Its wait passed max_wait_in_queue_ms while a starting instance still owed it a slot. */
  expired: boolean
  /** The queue it sits in now (waiters move to a new pool when a profile's args change). */
  queue: WaitQueue<T>
  resolve(lease: T): void
  reject(err: unknown): void
  /** Disarm its timer and abort listener (it left the line). */
  dispose(): void
}

export class WaitQueue<T = Lease> {
  private readonly items: Waiter<T>[] = []
  private readonly policy: QueuePolicy

  constructor(policy: QueuePolicy) {
    this.policy = policy
  }

  get length(): number {
    return this.items.length
  }

  /** Queue a request; the promise settles when it is served, aborted, or timed out. */
  add(o: { signal: AbortSignal; requestId: string | undefined; timeoutMs: number; onWaiting?: ((state: () => QueueWait) => void) | undefined }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        if (!w.queue.remove(w)) return
        reject(o.signal.reason)
        w.queue.policy.changed()
      }
      const timer = setTimeout(() => w.queue.timedOut(w), o.timeoutMs)
      const w: Waiter<T> = {
        requestId: o.requestId,
        enqueuedAt: Date.now(),
        expiresAt: Date.now() + o.timeoutMs,
        expired: false,
        queue: this,
        resolve,
        reject,
        dispose: () => {
          clearTimeout(timer)
          o.signal.removeEventListener('abort', onAbort)
        },
      }
      o.signal.addEventListener('abort', onAbort, { once: true })
      this.items.push(w)
      o.onWaiting?.(() => w.queue.stateOf(w))
    })
  }

  /** What a waiter waits on now: the head of the line that starting instances will serve waits for a load. */
  stateOf(w: Waiter<T>): QueueWait {
    const at = this.items.indexOf(w)
    if (at < 0) return { kind: 'waiting' }
    return at < this.policy.owed() ? { kind: 'loading' } : { kind: 'queued', ahead: at }
  }

  /** Index of a waiter (its place in line), or -1. */
  indexOf(w: Waiter<T>): number {
    return this.items.indexOf(w)
  }

  /** Serve the head of the line. */
  shift(): Waiter<T> | undefined {
    const w = this.items.shift()
    w?.dispose()
    return w
  }

  /** Take a waiter out of line without settling it. Returns whether it was here. */
  remove(w: Waiter<T>): boolean {
    const i = this.items.indexOf(w)
    if (i < 0) return false
    this.items.splice(i, 1)
    w.dispose()
    return true
  }

  /** Reject and drop every waiter from position `from` on. */
  rejectFrom(from: number, err: unknown): void {
    for (const w of this.items.splice(from)) {
      w.dispose()
      w.reject(err)
    }
  }

  /** Move every waiter, in order, to the end of another queue; timers and signals stay armed. */
  moveTo(other: WaitQueue<T>): void {
    for (const w of this.items.splice(0)) {
      w.queue = other
      other.items.push(w)
    }
  }

  /** When the last waiter's wait runs out (epoch ms), or undefined with nobody waiting. */
  latestExpiry(): number | undefined {
    let latest: number | undefined
    for (const w of this.items) if (latest === undefined || w.expiresAt > latest) latest = w.expiresAt
    return latest
  }

  /** Waiters whose wait ran out while a starting instance owed them a slot. */
  expired(): Waiter<T>[] {
    return this.items.filter((w) => w.expired)
  }

  /** Recheck waiters whose wait ran out while a starting instance owed them a slot. */
  sweepExpired(): void {
    for (const w of this.expired()) {
      w.expired = false
      this.timedOut(w)
    }
  }

  /**
   * Past max_wait_in_queue_ms a waiter leaves with 'queue_timeout', unless a starting instance
   * owes it a slot: the startup timeout bounds that wait, and a cold start may rightly be slower.
   */
  private timedOut(w: Waiter<T>): void {
    const at = this.items.indexOf(w)
    if (at < 0) return
    if (at < this.policy.owed()) {
      w.expired = true
      return
    }
    this.remove(w)
    w.reject(this.policy.timeoutError(at))
    this.policy.changed()
  }
}
