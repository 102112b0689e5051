/**
 * Three herd daemons as separate processes in a private network namespace, finding each
 * other by mDNS alone; a fourth with another secret. A model served only by node C is
 * answered through node A, streaming and not.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fetch, type Response } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSwarmKey } from '../../src/mesh/index.ts'
import { writeTinyGguf } from '../fixtures/tiny-gguf.ts'
import { withNetns, type Netns } from '../helpers/netns.ts'
import { clusterNames, startNsHerd, type ClusterNode, type NsHerd } from '../helpers/ns-herd.ts'
import { waitFor } from '../helpers/poll.ts'

let modelDir: string
let model: string

beforeAll(async () => {
  modelDir = await mkdtemp(join(tmpdir(), 'herd-mesh-model-'))
  model = (await writeTinyGguf(join(modelDir, 'tiny.gguf'), { contextLength: 8192 })).path
})
afterAll(async () => {
  await rm(modelDir, { recursive: true, force: true })
})

const only = (name: string, args = '-c 8192 -t 1') => ({ models: [{ name, profiles: [{ id: 'default', model_path: model, llama_server_args: args }] }] })

function post(h: NsHerd, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    dispatcher: h.dispatcher,
    ...(signal ? { signal } : {}),
  })
}

describe('a mesh found by mDNS inside a network namespace', () => {
  it('joins by mDNS, forwards to the only node with the model, keeps other secrets out, and drops dead nodes', async () => {
    await withNetns(async (ns: Netns) => {
      const secret = generateSwarmKey()
      const nodes: NsHerd[] = []
      try {
        const [a, b, c] = await Promise.all([
          startNsHerd(ns, { name: 'a', secret, cookbook: { models: [] } }),
          startNsHerd(ns, { name: 'b', secret, cookbook: { models: [] } }),
          startNsHerd(ns, { name: 'c', secret, cookbook: only('only-c') }),
        ])
        nodes.push(a!, b!, c!)
        const outsider = await startNsHerd(ns, { name: 'd', secret: generateSwarmKey(), cookbook: only('only-d') })
        nodes.push(outsider)

        for (const h of [a!, b!, c!]) {
          await waitFor(`${h.name} to see a, b and c`, async () => (await clusterNames(h)).join() === 'a,b,c', { timeoutMs: 15_000 })
        }

        // Non-streaming, through A, served by C.
        const res = await post(a!, { model: 'only-c', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 })
        expect(res.status).toBe(200)
        expect(res.headers.get('x-herd-node')).toBe('c')
        expect(((await res.json()) as { object: string }).object).toBe('chat.completion')

        // Streaming, through A, served by C, event by event.
        const stream = await post(a!, { model: 'only-c', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16, stream: true })
        expect(stream.headers.get('x-herd-node')).toBe('c')
        const text = await stream.text()
        expect(text.match(/^data: /gm)?.length).toBeGreaterThan(2)
        expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)

        // The union of models, with owned_by naming the node.
        const models = await a!.get<{ data: { id: string; owned_by: string }[] }>('/v1/models')
        expect(models.data.find((m) => m.id === 'only-c')?.owned_by).toBe('c')
        expect(models.data.some((m) => m.id === 'only-d')).toBe(false)

        // The node with another secret never appears anywhere.
        for (const h of [a!, b!, c!]) expect(await clusterNames(h)).not.toContain('d')
        expect(await clusterNames(outsider)).toEqual(['d'])

        // A joining node shows up within 2 s of being ready.
        const e = await startNsHerd(ns, { name: 'e', secret, cookbook: { models: [] } })
        nodes.push(e)
        const joinedAt = Date.now()
        await waitFor('a to see e', async () => (await clusterNames(a!)).includes('e'), { timeoutMs: 2_000, intervalMs: 20 })
        expect(Date.now() - joinedAt).toBeLessThanOrEqual(2_000)

        // Killing C mid-stream ends A's client stream with an error, and A drops C within 3 heartbeats.
        const long = await post(a!, { model: 'only-c', messages: [{ role: 'user', content: 'go' }], max_tokens: 7000, ignore_eos: true, stream: true })
        const reader = long.body!.getReader()
        const first = await reader.read()
        expect(first.done).toBe(false)
        c!.daemon.process.kill('SIGKILL')
        const killedAt = Date.now()
        let rest = ''
        let failed = false
        try {
          for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            rest += Buffer.from(value).toString()
          }
        } catch {
          failed = true
        }
        // Either the connection breaks or the stream ends with an SSE error event; never a hang or a clean [DONE].
        expect(failed || /"error"/.test(rest)).toBe(true)
        expect(rest.includes('[DONE]')).toBe(false)
        expect(Date.now() - killedAt).toBeLessThan(2_000 + 1_000)
        await waitFor('a to drop c', async () => !(await clusterNames(a!)).includes('c'), { timeoutMs: 3 * 200 + 500, intervalMs: 20 })
        const view = await a!.get<{ nodes: ClusterNode[] }>('/cluster/nodes')
        expect(view.nodes.map((n) => n.name)).not.toContain('c')
      } finally {
        await Promise.all(nodes.map((n) => n.dispose()))
      }
    })
  }, 90_000)
})
