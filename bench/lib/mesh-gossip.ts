/**
 * Gossip convergence of N in-process mesh nodes on loopback (createMesh, explicit peers,
 * mDNS off), in two parts:
 *
 * - discovery: the nodes are told of one another only as a star (every node knows the hub)
 *   or a chain (node i knows node i-1); from the moment all have started, how long until
 *   every node holds a state from every other one (so each found the rest through the
 *   peers lists carried by gossip, dialled them, and heard from them);
 * - state: in the full mesh that results, one node changes its state and calls
 *   notifyChanged(); how long until every other node has applied that version. Also the
 *   same change without notifyChanged(), which only the heartbeat carries.
 *
 * Times are taken from the events the meshes emit ('peer:joined', 'peer:state'), not by
 * polling, so they are as exact as the shared event loop allows.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { createMesh, generateSwarmKey, type Mesh, type NodeState, type PeerView } from '../../src/mesh/index.ts'
import { fakeLocalState } from '../../test/mesh/helpers.ts'

export type Topology = 'star' | 'chain'

export interface ConvergenceSpec {
  nodes: number
  topology: Topology
  gossipIntervalMs: number
  /** State changes announced with notifyChanged(), each from another node. */
  stateTrials: number
  /** State changes left to the heartbeat. */
  heartbeatTrials: number
  /** Give up on discovery after this long. */
  timeoutMs: number
}

export interface ConvergenceResult extends ConvergenceSpec {
  /** Starting all nodes took this long (they start in dependency order). */
  startMs: number
  /** All started → every node holds a state from every other node; NaN if it timed out. */
  discoveryMs: number
  /** How many of the N·(N-1) directed "A holds B's state" pairs were there at the deadline (discovery timed out). */
  pairsSeen: number
  /** notifyChanged() → the last other node applied the new state, per trial. */
  stateMs: number[]
  /** Same, median over the other nodes (the typical node), per trial. */
  stateMedianMs: number[]
  /** Unannounced change → the last other node applied it, per trial. */
  heartbeatMs: number[]
  /** Open connections per node once converged (N-1 in a full mesh). */
  connectionsPerNode: number
  /**
   * CPU time of this process (all N nodes share it) over wall time, during discovery and
   * during the state trials: 1 = one core busy. Near the machine's core count, the nodes
   * wait on each other's CPU and the times above grow for that reason.
   */
  cpuBusy: { discovery: number; steady: number }
  /** CPU this process spent during discovery, ms. */
  discoveryCpuMs: number
}

/** CPU time of this process since the meter was made: [ms, ms per wall ms]. */
function cpuMeter(): () => [number, number] {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  return () => {
    const c = process.cpuUsage(c0)
    const ms = (c.user + c.system) / 1000
    return [ms, ms / (performance.now() - t0)]
  }
}

interface BenchNode {
  mesh: Mesh
  home: string
  state: Omit<NodeState, 'id' | 'seq' | 'peers'>
  /** Peer ids this node holds a state from. */
  seen: Set<string>
}

const logger = pino({ level: 'silent' })
const noForward = async (): Promise<never> => {
  throw new Error('the convergence bench forwards nothing')
}

async function makeNode(i: number, secret: string, intervalMs: number, peers: string[], onSeen: () => void): Promise<BenchNode> {
  const home = await mkdtemp(join(tmpdir(), 'herd-bench-gossip-'))
  const node: BenchNode = { mesh: undefined as unknown as Mesh, home, state: fakeLocalState(`n${i}`), seen: new Set() }
  node.mesh = createMesh(
    { logger, localState: () => node.state, onForward: noForward },
    {
      home,
      secret,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false,
      peers,
      gossipIntervalMs: intervalMs,
      // Long enough that a loaded event loop never makes a node hang up on a live peer.
      peerTimeoutMs: Math.max(10_000, 10 * intervalMs),
    },
  )
  node.mesh.on('peer:joined', (p: PeerView) => {
    node.seen.add(p.id)
    onSeen()
  })
  node.mesh.on('peer:left', (p: PeerView) => node.seen.delete(p.id))
  return node
}

/** Resolves when `done()` holds, checked whenever `subscribe` calls back; rejects after `timeoutMs`. */
function until(done: () => boolean, timeoutMs: number, subscribe: (check: () => void) => () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    if (done()) {
      resolve(performance.now())
      return
    }
    const timer = setTimeout(() => {
      off()
      reject(new Error(`not converged after ${timeoutMs} ms`))
    }, timeoutMs)
    const off = subscribe(() => {
      if (!done()) return
      const t = performance.now()
      clearTimeout(timer)
      off()
      resolve(t)
    })
  })
}

/** Change node `j`'s state; resolve with [max, median] ms until every other node applied it. */
async function stateChange(nodes: BenchNode[], j: number, marker: number, notify: boolean, timeoutMs: number): Promise<[number, number]> {
  const source = nodes[j]!
  const sourceId = source.mesh.peerId
  const others = nodes.filter((_, i) => i !== j)
  const arrived: number[] = []
  const got = new Set<Mesh>()
  const listeners: [Mesh, (p: PeerView) => void][] = []
  let check: () => void = () => {}
  const off = (): void => {
    for (const [m, l] of listeners) m.off('peer:state', l)
  }
  for (const n of others) {
    const l = (p: PeerView): void => {
      if (p.id !== sourceId || p.state.resources.sysmemBudgetFreeMb !== marker || got.has(n.mesh)) return
      got.add(n.mesh)
      arrived.push(performance.now())
      check()
    }
    n.mesh.on('peer:state', l)
    listeners.push([n.mesh, l])
  }
  source.state = { ...source.state, resources: { ...source.state.resources, sysmemBudgetFreeMb: marker } }
  const t0 = performance.now()
  if (notify) source.mesh.notifyChanged()
  try {
    await until(
      () => got.size === others.length,
      timeoutMs,
      (c) => {
        check = c
        return off
      },
    )
  } finally {
    off()
  }
  const sorted = arrived.map((t) => t - t0).sort((a, b) => a - b)
  return [sorted[sorted.length - 1] ?? Number.NaN, sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN]
}

export async function measureConvergence(spec: ConvergenceSpec): Promise<ConvergenceResult> {
  const secret = generateSwarmKey()
  const nodes: BenchNode[] = []
  let onSeen: () => void = () => {}
  const seenHook = (): void => onSeen()
  const result: ConvergenceResult = {
    ...spec,
    startMs: 0,
    discoveryMs: Number.NaN,
    pairsSeen: 0,
    stateMs: [],
    stateMedianMs: [],
    heartbeatMs: [],
    connectionsPerNode: 0,
    cpuBusy: { discovery: Number.NaN, steady: Number.NaN },
    discoveryCpuMs: Number.NaN,
  }
  const pairs = (): number => nodes.reduce((s, n) => s + n.seen.size, 0)
  try {
    const t0 = performance.now()
    // Every node starts after the one it is told of is listening, so no dial is refused.
    const first = await makeNode(0, secret, spec.gossipIntervalMs, [], seenHook)
    nodes.push(first)
    await first.mesh.start()
    if (spec.topology === 'star') {
      const hub = first.mesh.addresses()[0]!
      const rest = await Promise.all(Array.from({ length: spec.nodes - 1 }, (_, i) => makeNode(i + 1, secret, spec.gossipIntervalMs, [hub], seenHook)))
      nodes.push(...rest)
      await Promise.all(rest.map((n) => n.mesh.start()))
    } else {
      for (let i = 1; i < spec.nodes; i++) {
        const n = await makeNode(i, secret, spec.gossipIntervalMs, [nodes[i - 1]!.mesh.addresses()[0]!], seenHook)
        nodes.push(n)
        await n.mesh.start()
      }
    }
    const started = performance.now()
    result.startMs = started - t0
    const full = spec.nodes * (spec.nodes - 1)
    const discoveryCpu = cpuMeter()
    try {
      const t = await until(
        () => pairs() === full,
        spec.timeoutMs,
        (c) => {
          onSeen = c
          return () => (onSeen = () => {})
        },
      )
      result.discoveryMs = t - started
    } catch {
      result.pairsSeen = pairs()
      return result
    } finally {
      ;[result.discoveryCpuMs, result.cpuBusy.discovery] = discoveryCpu()
    }
    result.pairsSeen = full
    // Let the dial storm settle before timing state changes.
    await new Promise((r) => setTimeout(r, spec.gossipIntervalMs))
    result.connectionsPerNode = nodes.reduce((s, n) => s + new Set(n.mesh.connectedPeers()).size, 0) / nodes.length
    let marker = 1_000_000
    const steadyCpu = cpuMeter()
    for (let k = 0; k < spec.stateTrials; k++) {
      const [max, median] = await stateChange(nodes, (k * 7 + 1) % nodes.length, marker++, true, 10 * spec.gossipIntervalMs)
      result.stateMs.push(max)
      result.stateMedianMs.push(median)
      // Start the next trial at another point of the heartbeat cycle.
      await new Promise((r) => setTimeout(r, spec.gossipIntervalMs * (0.2 + 0.37 * (k % 3))))
    }
    for (let k = 0; k < spec.heartbeatTrials; k++) {
      const [max] = await stateChange(nodes, (k * 5 + 2) % nodes.length, marker++, false, 10 * spec.gossipIntervalMs)
      result.heartbeatMs.push(max)
    }
    result.cpuBusy.steady = steadyCpu()[1]
    return result
  } finally {
    await Promise.all(
      nodes.map(async (n) => {
        await n.mesh.stop().catch(() => {})
        await rm(n.home, { recursive: true, force: true })
      }),
    )
  }
}
