/**
 * model_dirs end to end: real daemons (own processes) with real llama-server. One daemon
 * serves a GGUF it found itself; a file dropped in while it runs becomes a model; in a
 * two-node mesh, A's /cluster/inventory (and `herd inventory`) shows the file only B has,
 * and A routes a request for it to B.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterInventory } from '../../src/inventory/index.ts'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { HERD, startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'
import { loopbackMesh } from '../helpers/mesh-config.ts'

const run = promisify(execFile)
const KEY = 'inventory-test-key'
let dir: string
const nodes: HerdProcess[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-inventory-e2e-'))
  await writeFile(join(dir, 'cluster.key'), generateSwarmKey(), { mode: 0o600 })
})
afterAll(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.dispose()))
  await rm(dir, { recursive: true, force: true })
})

const auth = { authorization: `Bearer ${KEY}` }
const get = async <T>(h: HerdProcess, path: string): Promise<T> => (await (await fetch(h.url + path, { headers: auth })).json()) as T
const chat = (h: HerdProcess, model: string) =>
  fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  })
const modelIds = async (h: HerdProcess): Promise<string[]> => (await get<{ data: { id: string }[] }>(h, '/v1/models')).data.map((m) => m.id)

function meshConfig(name: string, modelDirs: string[], peers: string[]) {
  return {
    node: { name },
    model_dirs: modelDirs,
    http: { api_keys: [KEY] },
    mesh: loopbackMesh(join(dir, 'cluster.key'), peers),
  }
}

describe('model_dirs', () => {
  it('serves a model found on disk through real llama-server, and one dropped in while running', async () => {
    const models = join(dir, 'solo')
    await writeTinyGguf(join(models, 'nested/tiny.gguf'), { name: 'Tiny Found' })
    const h = await startHerd({ cookbook: { models: [] }, config: { node: { name: 'solo' }, model_dirs: [models], http: { api_keys: [KEY] } } })
    nodes.push(h)
    expect(await modelIds(h)).toContain('tiny-found')
    const res = await chat(h, 'tiny-found')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-node')).toBe('solo')
    expect(((await res.json()) as { choices: unknown[] }).choices).toHaveLength(1)

    await writeTinyGguf(join(dir, 'incoming.tmp'), { name: 'Late Arrival', seed: 2 })
    await rename(join(dir, 'incoming.tmp'), join(models, 'late.gguf'))
    await waitFor('the dropped-in model to be listed', async () => (await modelIds(h)).includes('late-arrival'), { timeoutMs: 10_000 })
    expect((await chat(h, 'late-arrival')).status).toBe(200)
    await rm(join(models, 'late.gguf'))
    await waitFor('the removed model to go', async () => !(await modelIds(h)).includes('late-arrival'), { timeoutMs: 10_000 })
  })

  it("shows B's file on A's /cluster/inventory and herd inventory, and routes A's request for it to B", async () => {
    const bDir = join(dir, 'b-models')
    await writeTinyGguf(join(bDir, 'only-on-b.gguf'), { name: 'Only On B', contextLength: 1024 })
    const b = await startHerd({ cookbook: { models: [] }, config: meshConfig('b', [bDir], []) })
    nodes.push(b)
    const { nodes: bView } = await get<{ nodes: { self: boolean; addrs: string[] }[] }>(b, '/cluster/nodes')
    const bAddr = bView.find((n) => n.self)?.addrs[0] ?? ''
    const a = await startHerd({ cookbook: { models: [] }, config: meshConfig('a', [], [bAddr]) })
    nodes.push(a)

    const row = await waitFor(
      "B's file on A's inventory",
      async () => (await get<ClusterInventory>(a, '/cluster/inventory')).models.find((m) => m.id === 'only-on-b:default'),
      { timeoutMs: 15_000 },
    )
    expect(row).toMatchObject({
      architecture: 'llama',
      quantization: 'F16',
      context_length: 1024,
      file: 'only-on-b.gguf',
      nodes_with_file: ['b'],
      nodes_serving: [],
    })
    expect(row.size_bytes).toBeGreaterThan(100_000)
    expect(row.parameters).toBeGreaterThan(10_000)
    expect(row.nodes[0]).toMatchObject({ node: 'b', source: 'model_dirs', context: 1024, has_file: true })
    expect(row.nodes[0]?.estimate?.sysmem_mb).toBeGreaterThan(0)
    // Gossip carries the file's name, never its folder.
    expect(JSON.stringify(await get(a, '/cluster/nodes'))).not.toContain(bDir)
    expect((await fetch(`${a.url}/cluster/inventory`)).status).toBe(401)

    const res = await chat(a, 'only-on-b')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-node')).toBe('b')
    await res.arrayBuffer()
    await waitFor(
      'B to be listed as serving it',
      async () => (await get<ClusterInventory>(a, '/cluster/inventory')).models.find((m) => m.id === 'only-on-b:default')?.nodes_serving.includes('b'),
      { timeoutMs: 10_000 },
    )

    const cli = async (...args: string[]) => (await run(HERD, ['inventory', '--url', a.url, '--key', KEY, ...args], { encoding: 'utf8' })).stdout
    const text = await cli()
    expect(text.split('\n')[0]).toMatch(/^MODEL\s+ARCH\s+PARAMS\s+QUANT\s+CTX\s+SIZE\s+FILE ON\s+SERVING/)
    expect(text).toMatch(/^only-on-b:default\s+llama\s+\S+\s+F16\s+1024\s+\d+ KiB\s+b\s+b\s+\d+\s+/m)
    const json = JSON.parse(await cli('--json')) as ClusterInventory
    expect(json.models.find((m) => m.id === 'only-on-b:default')?.nodes_with_file).toEqual(['b'])
  })
})
