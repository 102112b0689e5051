/**
 * Explicit peers with mDNS off, on loopback: a chain A–B–C where A is told only of B.
 * A learns C through gossip and routes to it; the official openai client on A reaches a
 * model that only B serves.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { HERD, startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'
import { clusterNames, type ClusterNode } from '../helpers/ns-herd.ts'
import { loopbackMesh } from '../helpers/mesh-config.ts'

let dir: string
let model: string
const nodes: HerdProcess[] = []
/** Node A, started by the first test and used by the second. */
let a: HerdProcess

const get = async <T>(h: HerdProcess, path: string): Promise<T> => (await (await fetch(h.url + path)).json()) as T
const view = (h: HerdProcess) => ({ get: <T>(path: string) => get<T>(h, path) })
const only = (name: string) => ({ models: [{ name, profiles: [{ id: 'default', model_path: model, llama_server_args: '-c 512 -t 1' }] }] })

async function node(name: string, cookbook: unknown, peers: string[]): Promise<HerdProcess> {
  const h = await startHerd({
    cookbook,
    config: {
      node: { name },
      mesh: loopbackMesh(join(dir, 'cluster.key'), peers),
    },
  })
  nodes.push(h)
  return h
}

async function address(h: HerdProcess): Promise<string> {
  const { nodes: list } = await get<{ nodes: ClusterNode[] }>(h, '/cluster/nodes')
  const self = list.find((n) => n.self)
  if (!self?.addrs[0]) throw new Error('no mesh address')
  return self.addrs[0]
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-peers-'))
  model = (await writeTinyGguf(join(dir, 'tiny.gguf'))).path
  await writeFile(join(dir, 'cluster.key'), generateSwarmKey(), { mode: 0o600 })
})

afterAll(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.dispose()))
  await rm(dir, { recursive: true, force: true })
})

describe('a mesh from explicit peers', () => {
  it('routes from A to a model only C serves when A was told only of B', async () => {
    const c = await node('c', only('only-c'), [])
    const b = await node('b', only('only-b'), [await address(c)])
    a = await node('a', { models: [] }, [await address(b)])
    await waitFor('a to learn c through b', async () => (await clusterNames(view(a))).join() === 'a,b,c', { timeoutMs: 10_000 })

    const res = await fetch(`${a.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'only-c', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-herd-node')).toBe('c')
  })

  it('serves the official openai client on A from a model on B, streaming and not', async () => {
    const client = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const { data, response } = await client.chat.completions
      .create({ model: 'only-b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 })
      .withResponse()
    expect(response.headers.get('x-herd-node')).toBe('b')
    expect(data.choices[0]?.message.role).toBe('assistant')
    const stream = await client.chat.completions.create({ model: 'only-b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, stream: true })
    let chunks = 0
    for await (const _ of stream) chunks++
    expect(chunks).toBeGreaterThan(1)
    const models: string[] = []
    for await (const m of client.models.list()) models.push(`${m.id}@${m.owned_by}`)
    expect(models).toEqual(expect.arrayContaining(['only-b@b', 'only-c@c']))
  })

  it('prints the mesh and its models as tables with herd nodes and herd models', async () => {
    const cli = (cmd: string) => execFileSync(HERD, [cmd, '--url', a.url, '--config', join(a.home, 'config.yaml')], { encoding: 'utf8' })
    const nodesTable = cli('nodes').trim().split('\n')
    expect(nodesTable[0]).toMatch(/^NAME\s+ID\s+STATUS/)
    expect(
      nodesTable
        .slice(1)
        .map((l) => l.split(/\s+/)[0])
        .sort(),
    ).toEqual(['a', 'b', 'c'])
    const modelsTable = cli('models')
    expect(modelsTable).toMatch(/^MODEL\s+PROFILE\s+NODE\s+WHERE\s+STATUS$/m)
    expect(modelsTable).toMatch(/^only-b\s+only-b:default\s+b\s+peer\s+ok$/m)
    expect(modelsTable).toMatch(/^only-c\s+only-c:default\s+c\s+peer\s+ok$/m)
  })
})
