/**
 * One wait bound for the whole mesh. The node a client asked sets a deadline on the
 * request; every node it is forwarded to waits in admission and in its queue no later
 * than that (nor longer than its own bound), so trying several nodes in turn never waits
 * one full bound per node. It travels as a request header of the forward head (the
 * forward protocol's schema stays as it is), as the milliseconds left rather than a
 * point in time, so clocks that disagree between machines do not matter.
 */

/** Forward-head header: how many more milliseconds this request may wait. */
export const WAIT_HEADER = 'x-herd-wait-ms'

/** The bound when this node does not serve the profile itself: the cookbook's default max_wait_in_queue_ms. */
export const DEFAULT_WAIT_BOUND_MS = 60_000

/** The header's value for a deadline (epoch ms on this node's clock). */
export function waitHeader(deadline: number, now = Date.now()): string {
  return String(Math.max(0, Math.round(deadline - now)))
}

/** A deadline (epoch ms on this node's clock) from a peer's header: a plain count of ms, else none (the serving node's own bound applies). */
export function parseWaitHeader(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || !/^\d{1,12}$/.test(value)) return undefined
  return now + Number(value)
}
