/**
 * One wait bound for the whole mesh. The node a client asked sets a deadline (epoch ms) on
 * the request; every node it is forwarded to waits in admission and in its queue no later
 * than that (nor longer than its own bound), so trying several nodes in turn never waits
 * one full bound per node. It travels as a request header of the forward head, so the
 * forward protocol's schema stays as it is.
 */

/** Forward-head header carrying the deadline, epoch ms. */
export const DEADLINE_HEADER = 'x-herd-deadline'

/** The bound when this node does not serve the profile itself: the cookbook's default max_wait_in_queue_ms. */
export const DEFAULT_WAIT_BOUND_MS = 60_000

/** A deadline from a peer's header: a positive integer of epoch ms, else none (the serving node's own bound applies). */
export function parseDeadline(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined
  const n = Number(value)
  return n > 0 ? n : undefined
}
