/**
 * A backend's `max_concurrency`: at most that many requests in flight, the rest in a FIFO
 * (the supervisor's WaitQueue) with the rules of a local profile's queue: more than
 * `max_queue_size` waiting is `queue_full` at once, a wait longer than
 * `max_wait_in_queue_ms` (or the request's mesh-wide deadline) is `queue_timeout`.
 */
import { HerdError } from '../errors/index.ts'
import { WaitQueue } from '../instances/index.ts'

/** One request's place in flight; `release()` is idempotent. */
export interface Slot {
  release(): void
}

export interface LimiterInit {
  /** For messages: the backend's name. */
  name: string
  maxConcurrency: number
  maxQueueSize: number
  maxWaitInQueueMs: number
  /** In use or the queue changed. */
  onChange?: () => void
}

export class ConcurrencyLimit {
  private readonly init: LimiterInit
  private readonly queue: WaitQueue<Slot>
  private active = 0

  constructor(init: LimiterInit) {
    this.init = init
    this.queue = new WaitQueue<Slot>({
      owed: () => 0,
      timeoutError: () =>
        new HerdError('queue_timeout', `waited ${init.maxWaitInQueueMs} ms in the queue for backend '${init.name}'`, { retryAfterSeconds: 1 }),
      changed: () => init.onChange?.(),
    })
  }

  get inUse(): number {
    return this.active
  }

  get queueLength(): number {
    return this.queue.length
  }

  /** A slot now, or after a wait in line. */
  acquire(o: { signal: AbortSignal; requestId?: string; deadline?: number }): Promise<Slot> {
    if (o.signal.aborted) return Promise.reject(o.signal.reason)
    if (this.queue.length === 0 && this.active < this.init.maxConcurrency) return Promise.resolve(this.take())
    if (this.queue.length >= this.init.maxQueueSize) {
      return Promise.reject(
        new HerdError('queue_full', `the queue for backend '${this.init.name}' is full (${this.init.maxQueueSize} waiting)`, { retryAfterSeconds: 1 }),
      )
    }
    const timeoutMs = Math.max(0, Math.min(this.init.maxWaitInQueueMs, (o.deadline ?? Infinity) - Date.now()))
    const slot = this.queue.add({ signal: o.signal, requestId: o.requestId, timeoutMs })
    this.init.onChange?.()
    return slot
  }

  /** Refuse everyone waiting (the backend was removed). */
  rejectWaiting(err: HerdError): void {
    this.queue.rejectFrom(0, err)
    this.init.onChange?.()
  }

  private take(): Slot {
    this.active++
    this.init.onChange?.()
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        this.active--
        this.pump()
        this.init.onChange?.()
      },
    }
  }

  private pump(): void {
    while (this.active < this.init.maxConcurrency && this.queue.length > 0) {
      const w = this.queue.shift()
      w?.resolve(this.take())
    }
  }
}
