/**
 * The client suite of fixtures/client-suite.ts across a two-node mesh on loopback: node A
 * serves nothing itself and holds the API keys; node B serves the models. Every request
 * (the Responses and Messages APIs, their streams and token counts, the AI SDK, /infill,
 * the tokenizer, GET /props?model=) goes from A to B over the forward protocol, and every
 * refusal A makes (unknown model, wrong key, an embedding model on /v1/messages) is in the
 * caller's error shape.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { waitFor } from '../helpers/poll.ts'
import type { ClusterNode } from '../helpers/ns-herd.ts'
import { clientSuite, suiteCookbook } from './fixtures/client-suite.ts'
import { loopbackMesh } from '../helpers/mesh-config.ts'

const KEY = 'sk-herd-e2e-mesh'
let dir: string
const nodes: HerdProcess[] = []
let a: HerdProcess | undefined

function mesh(name: string, peers: string[]) {
  return {
    node: { name },
    mesh: loopbackMesh(join(dir, 'cluster.key'), peers),
  }
}

async function selfAddress(h: HerdProcess): Promise<string> {
  const { nodes: list } = (await (await fetch(`${h.url}/cluster/nodes`)).json()) as { nodes: ClusterNode[] }
  const addr = list.find((n) => n.self)?.addrs[0]
  if (addr === undefined) throw new Error('no mesh address')
  return addr
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-e2e-mesh-endpoints-'))
  await writeFile(join(dir, 'cluster.key'), generateSwarmKey(), { mode: 0o600 })
  const b = await startHerd({ cookbook: await suiteCookbook(dir), config: mesh('b', []) })
  nodes.push(b)
  a = await startHerd({ cookbook: { models: [] }, config: { ...mesh('a', [await selfAddress(b)]), http: { api_keys: [KEY] } } })
  nodes.push(a)
  const url = a.url
  await waitFor(
    'a to see the models b serves',
    async () => {
      const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } })
      const { data } = (await res.json()) as { data: { id: string; owned_by: string }[] }
      return ['tiny', 'tiny-embed'].every((id) => data.some((m) => m.id === id && m.owned_by === 'b'))
    },
    { timeoutMs: 15_000 },
  )
})

afterAll(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.dispose()))
  await rm(dir, { recursive: true, force: true })
})

clientSuite(() => {
  if (!a) throw new Error('the mesh did not start')
  return { url: a.url, key: KEY, servedBy: 'b' }
})
