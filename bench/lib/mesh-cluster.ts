/**
 * Two real herd daemons on loopback for the forwarding bench, each in its own process:
 * B serves the models `bench` (a fake llama-server answering at once) and `bench-paced`
 * (the same, generating PACED_TOKEN_RATE tokens/s); A serves nothing and is told only of
 * B's mesh address (explicit peer, mDNS off, a fresh cluster secret). A request sent to A
 * is forwarded over `/herd/forward/1.0.0`; the same request sent to B is served directly.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { makeFakeModel } from '../../test/fixtures/fake-llama.ts'
import type { BenchChild } from './child.ts'
import { fakeLlamaServer, startDaemonChild } from './daemon-child.ts'

export const MESH_BENCH_MODEL = 'bench'
export const MESH_BENCH_PACED_MODEL = 'bench-paced'
/** Tokens per second of `bench-paced`: one SSE event per token, as llama-server writes them. */
export const PACED_TOKEN_RATE = 1000

export interface MeshPair {
  /** Serves `bench` itself. */
  b: BenchChild
  /** Serves nothing; forwards `bench` to B. */
  a: BenchChild
  close(): Promise<void>
}

export interface MeshPairInit {
  gossipIntervalMs: number
  /** Slots of the fake llama-server (its -np): at least the highest concurrency, so B never queues. */
  slots: number
}

function daemon(dir: string, name: string, cookbook: unknown, mesh: Record<string, unknown>, llama: string): Promise<BenchChild> {
  return startDaemonChild({ dir, name, cookbook, llama, mesh: { enabled: true, mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'], ...mesh } })
}

interface ClusterNode {
  name: string
  self: boolean
  fresh: boolean
  addrs: string[]
  models: { id: string }[]
}

async function clusterNodes(url: string): Promise<ClusterNode[]> {
  const res = await fetch(`${url}/cluster/nodes`)
  return ((await res.json()) as { nodes: ClusterNode[] }).nodes
}

async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export async function startMeshPair(init: MeshPairInit): Promise<MeshPair> {
  const dir = await mkdtemp(join(tmpdir(), 'herd-bench-mesh-'))
  const started: BenchChild[] = []
  const close = async (): Promise<void> => {
    for (const c of started.reverse()) await c.stop()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const llama = await fakeLlamaServer(dir)
    const model = await makeFakeModel(dir)
    const secretFile = join(dir, 'cluster.key')
    await writeFile(secretFile, generateSwarmKey(), { mode: 0o600 })
    const mesh = { secret_file: secretFile, gossip_interval_ms: init.gossipIntervalMs }
    const profile = (args: string[]) => ({
      id: 'default',
      model_path: model,
      llama_server_args: ['-np', String(init.slots), ...args],
      max_queue_size: 1024,
      idle_timeout_seconds: 3600,
    })
    const cookbook = {
      models: [
        { name: MESH_BENCH_MODEL, profiles: [profile([])] },
        { name: MESH_BENCH_PACED_MODEL, profiles: [profile(['--fake-token-rate', String(PACED_TOKEN_RATE)])] },
      ],
    }
    const b = await daemon(dir, 'b', cookbook, { ...mesh, peers: [] }, llama)
    started.push(b)
    const bAddr = await poll('B to report its mesh address', async () => (await clusterNodes(b.url)).find((n) => n.self)?.addrs[0], 10_000)
    const a = await daemon(dir, 'a', { models: [] }, { ...mesh, peers: [bAddr] }, llama)
    started.push(a)
    await poll(
      'A to see B (fresh, serving bench)',
      async () => {
        const peer = (await clusterNodes(a.url)).find((n) => n.name === 'b')
        return peer?.fresh === true && peer.models.some((m) => m.id.startsWith(`${MESH_BENCH_PACED_MODEL}:`)) ? true : undefined
      },
      15_000,
    )
    return { a, b, close }
  } catch (err: unknown) {
    await close()
    throw err
  }
}
