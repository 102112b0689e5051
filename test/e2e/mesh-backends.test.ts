/**
 * A backend configured on node A only, asked for at node B: B has no credential, so the
 * request is forwarded over the mesh to A, which holds it. B learns A's backends (models,
 * health, load) from gossip, never their key, URL or headers: B's logs, its /cluster/nodes
 * and /v1/models are searched for the key. A dead backend on A is routed around from B
 * once A's gossip says it is down. An Anthropic client at B reaches A's `openai` backend
 * through the converter on A (B checks the request converts before forwarding it).
 */
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { fakeOpenAi, type FakeBackend } from '../fixtures/fake-backend.ts'
import { startHerd, type HerdProcess } from '../helpers/herd-process.ts'
import { freePort } from '../helpers/llama-server.ts'
import { waitFor } from '../helpers/poll.ts'
import type { ClusterNode } from '../helpers/ns-herd.ts'
import { loopbackMesh } from '../helpers/mesh-config.ts'

const KEY = 'sk-office-only-on-a-0123456789'
const HEADER_SECRET = 'org-secret-header-value'

let dir: string
let office: FakeBackend
let a: HerdProcess
let b: HerdProcess
const seenAtB: string[] = []

interface BackendRow {
  name: string
  health: string
  circuit: string
  inUse: number
  maxConcurrency: number
  models: { id: string }[]
}

async function getB(path: string): Promise<string> {
  const text = await (await fetch(b.url + path)).text()
  seenAtB.push(text)
  return text
}

function mesh(name: string, peers: string[]) {
  return {
    node: { name },
    log_level: 'debug',
    mesh: loopbackMesh(join(dir, 'cluster.key'), peers),
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-mesh-backends-'))
  await writeFile(join(dir, 'cluster.key'), generateSwarmKey(), { mode: 0o600 })
  office = await fakeOpenAi({ key: KEY, models: ['qwen'] })
  const dead = await freePort()
  a = await startHerd({
    cookbook: {
      models: [],
      backends: [
        {
          name: 'office',
          protocol: 'openai',
          base_url: office.baseUrl,
          api_key_env: 'OFFICE_KEY',
          headers: { 'OpenAI-Organization': HEADER_SECRET },
          models: ['qwen'],
        },
        { name: 'gone', protocol: 'openai', base_url: `http://127.0.0.1:${dead}/v1`, api_key_env: 'OFFICE_KEY', models: ['m'] },
      ],
    },
    config: mesh('a', []),
    env: { OFFICE_KEY: KEY },
  })
  const { nodes } = (await (await fetch(`${a.url}/cluster/nodes`)).json()) as { nodes: ClusterNode[] }
  const address = nodes.find((n) => n.self)?.addrs[0]
  if (address === undefined) throw new Error('a has no mesh address')
  b = await startHerd({ cookbook: { models: [] }, config: mesh('b', [address]) })
  await waitFor('b to see a backend models', async () => (await getB('/v1/models')).includes('office/qwen'), { timeoutMs: 15_000 })
}, 90_000)

afterAll(async () => {
  await Promise.all([a?.dispose(), b?.dispose()])
  await office?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('a backend on another node', () => {
  it('serves a request at B through A, the node holding the credential', async () => {
    const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'client-key-at-b', maxRetries: 0, timeout: 20_000 })
    const { data, response } = await client.chat.completions.create({ model: 'office/qwen', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
    expect(data.model).toBe('qwen')
    expect(response.headers.get('x-herd-node')).toBe('a')
    expect(response.headers.get('x-herd-model')).toBe('office/qwen')
    const stream = await client.chat.completions.create({ model: 'office/qwen', messages: [{ role: 'user', content: 'hi' }], stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    expect(text).toBe('Hello from the fake backend')
    const posts = office.requests.filter((r) => r.method === 'POST')
    expect(posts).toHaveLength(2)
    expect(posts.every((r) => r.headers['authorization'] === `Bearer ${KEY}`)).toBe(true)
    expect(JSON.stringify(office.requests)).not.toContain('client-key-at-b')
  })

  it("serves an Anthropic client at B from A's openai backend, converted on A, and refuses at B what does not convert", async () => {
    const client = new Anthropic({ baseURL: b.url, apiKey: 'client-key-at-b', maxRetries: 0, timeout: 20_000 })
    const { data, response } = await client.messages.create({ model: 'office/qwen', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).withResponse()
    expect(data).toMatchObject({ type: 'message', model: 'qwen', content: [{ type: 'text', text: 'Hello from the fake backend' }], stop_reason: 'end_turn' })
    expect(response.headers.get('x-herd-node')).toBe('a')
    expect(response.headers.get('x-herd-model')).toBe('office/qwen')
    const final = await client.messages.stream({ model: 'office/qwen', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).finalMessage()
    expect(final.content[0]).toMatchObject({ type: 'text', text: 'Hello from the fake backend' })
    const before = office.requests.length
    const refused = await client.messages
      .create({ model: 'office/qwen', max_tokens: 8, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError)
    expect((refused as InstanceType<typeof Anthropic.BadRequestError>).headers?.get('x-herd-node')).toBe('b')
    expect(office.requests.slice(before).filter((r) => r.method === 'POST')).toEqual([])
  })

  it("lists A's backend models at B, owned by A, with their state in /cluster/nodes", async () => {
    const list = JSON.parse(await getB('/v1/models')) as { data: { id: string; owned_by: string; herd: { backend?: string; local: boolean } }[] }
    expect(list.data.find((m) => m.id === 'office/qwen')).toMatchObject({ owned_by: 'a', herd: { backend: 'office', local: false } })
    const nodes = JSON.parse(await getB('/cluster/nodes')) as { nodes: (ClusterNode & { backends: BackendRow[] })[] }
    const rowA = nodes.nodes.find((n) => n.name === 'a')
    expect(rowA?.backends.find((x) => x.name === 'office')).toMatchObject({ health: 'up', circuit: 'closed', maxConcurrency: 32 })
    expect(nodes.nodes.find((n) => n.self)?.backends).toEqual([])
  })

  it("routes around A's dead backend from B once A's gossip says it is down, without forwarding", async () => {
    await waitFor('b to hear that gone is down', async () => {
      const nodes = JSON.parse(await getB('/cluster/nodes')) as { nodes: (ClusterNode & { backends: BackendRow[] })[] }
      return nodes.nodes.find((n) => n.name === 'a')?.backends.find((x) => x.name === 'gone')?.health === 'down'
    })
    const res = await fetch(`${b.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gone/m', messages: [{ role: 'user', content: 'hi' }] }),
    })
    seenAtB.push(await res.text())
    expect(res.status).toBe(503)
    expect(res.headers.get('x-herd-error')).toBe('no_route')
    expect(res.headers.get('x-herd-node')).toBe('b')
  })

  it("never shows the key or header values at B: not in its logs, state, /cluster/nodes or /v1/models, nor in A's", async () => {
    await getB('/cluster/nodes')
    await getB('/v1/models')
    await getB('/metrics')
    for (const text of [...seenAtB, b.output(), a.output()]) {
      expect(text).not.toContain(KEY)
      expect(text).not.toContain(HEADER_SECRET)
    }
    // A's base URL does not travel either: B knows only names, models and state.
    for (const text of [...seenAtB, b.output()]) expect(text).not.toContain(office.baseUrl)
  })
})
