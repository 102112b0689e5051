/**
 * `max_request_duration_ms`: how long a request to a profile may run, counted from when it
 * reached this node (`RouteRequest.receivedAt`), so queueing and a cold start count too: it
 * bounds what the client waits, not only what llama-server does. When the time runs out the
 * deadline's signal aborts with 'upstream_timeout'; fed to the upstream request, that stops
 * llama-server generating and frees its slot, and the local target answers 504 before the
 * response head, or ends an event stream with an SSE error event after it.
 */
import { HerdError } from '../errors/index.ts'

export interface Deadline {
  /** Aborts when the client goes away (with its reason) or when the time runs out (with `timedOut`). */
  readonly signal: AbortSignal
  /** The 'upstream_timeout' error, once the time ran out before the client left. */
  readonly timedOut: HerdError | undefined
  /** Stop the timer and stop listening to the client signal. Idempotent. */
  clear(): void
}

export interface DeadlineOptions {
  /** Undefined: no limit (the deadline is the client signal itself, at no cost). */
  limitMs: number | undefined
  /** `performance.now()` when the request arrived; undefined: now. */
  receivedAt: number | undefined
  /** The client's signal. */
  signal: AbortSignal
  profileId: string
}

const nothing = (): void => {}

export function startDeadline(o: DeadlineOptions): Deadline {
  const { limitMs } = o
  if (limitMs === undefined) return { signal: o.signal, timedOut: undefined, clear: nothing }
  const since = o.receivedAt ?? performance.now()
  const ctl = new AbortController()
  let timedOut: HerdError | undefined
  let timer: NodeJS.Timeout | undefined
  const clear = (): void => {
    clearTimeout(timer)
    o.signal.removeEventListener('abort', onClient)
  }
  const onClient = (): void => {
    clear()
    ctl.abort(o.signal.reason)
  }
  const expire = (): void => {
    // Timers may fire a hair early; re-arm so `pastDeadline` agrees once this has fired.
    const left = limitMs - (performance.now() - since)
    if (left > 0) return arm(left)
    clear()
    timedOut = new HerdError('upstream_timeout', `the request to '${o.profileId}' ran longer than its max_request_duration_ms (${limitMs} ms)`)
    ctl.abort(timedOut)
  }
  const arm = (ms: number): void => {
    timer = setTimeout(expire, Math.ceil(ms))
    // A request in flight keeps the process busy anyway; this timer must not on its own.
    timer.unref()
  }
  if (o.signal.aborted) ctl.abort(o.signal.reason)
  else {
    o.signal.addEventListener('abort', onClient, { once: true })
    expire()
  }
  return {
    signal: ctl.signal,
    get timedOut() {
      return timedOut
    },
    clear,
  }
}

/** Whether a request that arrived at `receivedAt` has used up `limitMs` (then no other target is tried). */
export function pastDeadline(receivedAt: number | undefined, limitMs: number | undefined): boolean {
  return receivedAt !== undefined && limitMs !== undefined && performance.now() - receivedAt >= limitMs
}
