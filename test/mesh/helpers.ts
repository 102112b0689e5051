/** Shared fixtures for the mesh tests: nodes on loopback with a fake local state and handler. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import { createMesh, generateSwarmKey, type ForwardHandler, type Mesh, type MeshInit, type MeshService, type NodeState } from '../../src/mesh/index.ts'

export const logger = pino({ level: process.env.HERD_TEST_LOG ?? 'silent' })

export function fakeLocalState(name: string): Omit<NodeState, 'id' | 'seq' | 'peers'> {
  return {
    name,
    herdVersion: '0.1.0-test',
    llamaVersion: null,
    startedAt: Date.now(),
    status: 'ready',
    resources: { gpus: [], sysmem: { totalMb: 1024, freeMb: 512 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 512 },
    models: [],
  }
}

/** A handler answering 200 with a small JSON body naming the node. */
export function echoHandler(name: string): ForwardHandler {
  return async (req) => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    servedBy: name,
    body: Readable.from([Buffer.from(JSON.stringify({ path: req.path, hops: req.hops, body: req.body.toString('utf8') }))]),
  })
}

export interface TestNode {
  mesh: Mesh
  name: string
  home: string
  /** Change what localState() returns, then call mesh.notifyChanged(). */
  state: Omit<NodeState, 'id' | 'seq' | 'peers'>
}

export interface TestNodeOptions extends Partial<Omit<MeshInit, 'home'>> {
  name?: string
  onForward?: ForwardHandler
  /** Extra protocols (tenants replication). */
  services?: MeshService[]
}

/** Tracks every node made so `stopAll()` in afterEach stops them and removes their homes. */
export class Nodes {
  private readonly made: TestNode[] = []
  readonly secret = generateSwarmKey()

  async start(opts: TestNodeOptions = {}): Promise<TestNode> {
    const name = opts.name ?? `node-${this.made.length + 1}`
    const home = await mkdtemp(join(tmpdir(), 'herd-mesh-'))
    const node: TestNode = { name, home, state: fakeLocalState(name), mesh: undefined as unknown as Mesh }
    node.mesh = createMesh(
      {
        logger: logger.child({ node: name }),
        localState: () => node.state,
        onForward: opts.onForward ?? echoHandler(name),
        ...(opts.services === undefined ? {} : { services: opts.services }),
      },
      {
        ...this.defaults(),
        ...withoutServices(opts),
        home,
        secret: opts.secret ?? this.secret,
      },
    )
    this.made.push(node)
    await node.mesh.start()
    return node
  }

  /** Stops a node and starts it again on the same home (so the same peer id). */
  async restart(node: TestNode, opts: TestNodeOptions = {}): Promise<void> {
    await node.mesh.stop()
    node.mesh = createMesh(
      {
        logger: logger.child({ node: node.name }),
        localState: () => node.state,
        onForward: opts.onForward ?? echoHandler(node.name),
        ...(opts.services === undefined ? {} : { services: opts.services }),
      },
      { ...this.defaults(), ...withoutServices(opts), home: node.home, secret: opts.secret ?? this.secret },
    )
    await node.mesh.start()
  }

  private defaults(): Partial<MeshInit> {
    return { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, gossipIntervalMs: 100, peerTimeoutMs: 2000 }
  }

  async stopAll(): Promise<void> {
    const nodes = this.made.splice(0)
    await Promise.all(
      nodes.map(async (n) => {
        await n.mesh.stop()
        await rm(n.home, { recursive: true, force: true })
      }),
    )
  }
}

function withoutServices(opts: TestNodeOptions): Omit<TestNodeOptions, 'services'> {
  const { services: _services, ...rest } = opts
  return rest
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws `what`). */
export async function waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 5000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const value = check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

export function peerIds(node: TestNode): string[] {
  return node.mesh
    .peers()
    .map((p) => p.id)
    .sort()
}

/** Asserts `check` stays true for the whole window (for "this never happens" claims), polling. */
export async function holdsFor(what: string, check: () => boolean, windowMs: number, everyMs = 20): Promise<void> {
  const end = Date.now() + windowMs
  while (Date.now() < end) {
    if (!check()) throw new Error(`expected ${what} to hold for ${windowMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** Resolves with the args of the next `event` for which `match` holds, or rejects after `timeoutMs`. */
export function nextEvent<A extends unknown[]>(
  emitter: { on(e: string, l: (...a: A) => void): unknown; off(e: string, l: (...a: A) => void): unknown },
  event: string,
  match: (...args: A) => boolean = () => true,
  timeoutMs = 5000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener)
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`))
    }, timeoutMs)
    const listener = (...args: A): void => {
      if (!match(...args)) return
      clearTimeout(timer)
      emitter.off(event, listener)
      resolve(args)
    }
    emitter.on(event, listener)
  })
}
