/**
 * herd daemons as separate processes inside a test's network namespace, reached from the
 * test through a unix-socket bridge (see fixtures/unix-bridge.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, fetch } from 'undici'
import { stringify } from 'yaml'
import { HERD, NODE, ROOT } from './herd-process.ts'
import { ensureLlamaServer } from './llama-server.ts'
import type { Netns, NsChild } from './netns.ts'
import { waitFor } from './poll.ts'

export interface NsHerd {
  name: string
  home: string
  /** Use as `dispatcher` with undici/fetch; the URL host is ignored, the socket decides. */
  dispatcher: Agent
  url: string
  daemon: NsChild
  output(): string
  get<T>(path: string): Promise<T>
  dispose(): Promise<void>
}

let nextPort = 18000

export async function startNsHerd(
  ns: Netns,
  options: { name: string; secret: string; cookbook: unknown; config?: Record<string, unknown>; waitReady?: boolean },
): Promise<NsHerd> {
  const home = await mkdtemp(join(tmpdir(), `herd-ns-${options.name}-`))
  const port = nextPort++
  await writeFile(join(home, 'cluster.key'), options.secret, { mode: 0o600 })
  await writeFile(join(home, 'cookbook.yaml'), stringify(options.cookbook))
  const config = {
    node: { name: options.name },
    http: { listen: `127.0.0.1:${port}`, drain_timeout_ms: 2000 },
    llama: { server: await ensureLlamaServer() },
    cookbook: 'cookbook.yaml',
    mesh: { enabled: true, mdns: true, listen: ['/ip4/0.0.0.0/tcp/0'], secret_file: join(home, 'cluster.key'), gossip_interval_ms: 200, peer_timeout_ms: 2000 },
    ...options.config,
  }
  await writeFile(join(home, 'config.yaml'), stringify(config))
  const socketPath = join(home, 'http.sock')
  const bridge = ns.spawn(NODE, [join(ROOT, 'test/e2e/fixtures/unix-bridge.ts'), socketPath, String(port)])
  await bridge.waitForLine((l) => l === 'bridge ready', 10_000)
  const daemon = ns.spawn(HERD, ['start', '--config', join(home, 'config.yaml')], { env: { ...process.env, HERD_HOME: home } })
  const dispatcher = new Agent({ connect: { socketPath } })
  const url = `http://${options.name}.herd`
  const output = (): string => [...daemon.lines, daemon.stderr()].join('\n')
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(url + path, { dispatcher })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }
  const herd: NsHerd = {
    name: options.name,
    home,
    dispatcher,
    url,
    daemon,
    output,
    get,
    async dispose() {
      await daemon.stop(5000)
      await bridge.stop()
      await dispatcher.close()
      await rm(home, { recursive: true, force: true })
    },
  }
  if (options.waitReady !== false) {
    await waitFor(
      `${options.name} to be ready`,
      async () => {
        if (daemon.process.exitCode !== null) throw new Error(`${options.name} exited: ${output()}`)
        return (await fetch(`${url}/readyz`, { dispatcher }).catch(() => undefined))?.status === 200
      },
      { timeoutMs: 30_000 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${output()}`)
    })
  }
  return herd
}

export interface ClusterNode {
  id: string
  name: string
  self: boolean
  fresh: boolean
  age_ms: number
  addrs: string[]
  models: { id: string }[]
}

export async function clusterNames(h: { get<T>(path: string): Promise<T> }): Promise<string[]> {
  const { nodes } = await h.get<{ nodes: ClusterNode[] }>('/cluster/nodes')
  return nodes
    .filter((n) => n.fresh)
    .map((n) => n.name)
    .sort()
}
