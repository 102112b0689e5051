/**
 * One run of the placement simulation for one policy: the nodes, gossip on the virtual
 * clock (a heartbeat, and optionally a debounced push on every load change as
 * src/mesh/gossip.ts does), the arrivals, and what happened to every request.
 */
import type { NodeState } from '../../src/mesh/types.ts'
import { Clock, type Timer } from './placement-clock.ts'
import { SimNode, type NodeOptions } from './placement-node.ts'
import type { FailCode } from './placement-pool.ts'
import type { Policy } from './placement-policy.ts'
import type { Knobs, NodeSpec, SimRequest } from './placement-scenario.ts'
import { percentile } from './stats.ts'

export interface Gossip {
  intervalMs: number
  /** Also push on change, after this debounce (ms); undefined: heartbeat only. */
  pushDebounceMs: number | undefined
}

export interface RunResult {
  policy: string
  requests: number
  completed: number
  failed: Record<FailCode, number>
  /** Arrival to last token, ms, completed requests only. */
  p50: number
  p99: number
  evictions: number
  coldStarts: number
  idleStops: number
  spawnsNeverFit: number
  spawnsTimedOut: number
  /** Completed requests per node name. */
  servedBy: Record<string, number>
}

export function simulate(o: {
  nodes: readonly NodeSpec[]
  requests: readonly SimRequest[]
  knobs: Knobs
  gossip: Gossip
  policy: Policy
  node?: NodeOptions
}): RunResult {
  const clock = new Clock()
  const views = new Map<SimNode, NodeState>()
  const pushes = new Map<SimNode, Timer>()
  const publish = (n: SimNode): void => void views.set(n, n.state())
  const onChange = (n: SimNode): void => {
    const debounce = o.gossip.pushDebounceMs
    if (debounce === undefined || pushes.get(n)?.cancelled === false) return
    const t = clock.after(debounce, () => {
      t.cancelled = true
      publish(n)
    })
    pushes.set(n, t)
  }
  const nodes = o.nodes.map((spec) => new SimNode(spec, clock, o.knobs, onChange, o.node))
  nodes.forEach((n, i) => {
    publish(n)
    // Heartbeats out of phase, as independent daemons are.
    const beat = (): void => {
      publish(n)
      clock.after(o.gossip.intervalMs, beat)
    }
    clock.at(((i + 1) * o.gossip.intervalMs) / (nodes.length + 1), beat)
  })
  const cluster = { nodes, view: (n: SimNode) => views.get(n) as NodeState }

  const result: RunResult = {
    policy: o.policy.name,
    requests: o.requests.length,
    completed: 0,
    failed: { queue_full: 0, queue_timeout: 0, no_capacity: 0, no_route: 0 },
    p50: 0,
    p99: 0,
    evictions: 0,
    coldStarts: 0,
    idleStops: 0,
    spawnsNeverFit: 0,
    spawnsTimedOut: 0,
    servedBy: Object.fromEntries(o.nodes.map((n) => [n.name, 0])),
  }
  const latencies: number[] = []
  let settled = 0
  for (const req of o.requests) {
    clock.at(req.at, () =>
      o.policy.route(req, cluster, (out, node) => {
        settled++
        if (out.ok) {
          result.completed++
          latencies.push(out.doneAt - req.at)
          if (node) result.servedBy[node.spec.name] = (result.servedBy[node.spec.name] ?? 0) + 1
        } else result.failed[out.code]++
      }),
    )
  }
  // Every request settles (queue and admission waits are bounded); the horizon only guards against a bug.
  const horizon = (o.requests.at(-1)?.at ?? 0) + 3_600_000
  clock.run(() => settled === o.requests.length || clock.now > horizon)
  if (settled < o.requests.length) throw new Error(`${o.requests.length - settled} requests never settled under ${o.policy.name}`)

  const sorted = Float64Array.from(latencies).sort()
  result.p50 = percentile(sorted, 50)
  result.p99 = percentile(sorted, 99)
  for (const n of nodes) {
    result.evictions += n.stats.evictions
    result.coldStarts += n.stats.coldStarts
    result.idleStops += n.stats.idleStops
    result.spawnsNeverFit += n.stats.spawnsNeverFit
    result.spawnsTimedOut += n.stats.spawnsTimedOut
  }
  return result
}
