/**
 * Loading status through the real pipeline: api → router → supervisor → a fake
 * llama-server that starts slowly, or whose one slot is busy; and a retry on the next
 * candidate after the comments, which continues the same stream.
 */
import { Readable } from 'node:stream'
import pino from 'pino'
import { Agent } from 'undici'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import type { Lease, QueueWait } from '../../src/instances/index.ts'
import type { ModelState, NodeState } from '../../src/mesh/types.ts'
import { Router, type LocalInstances, type RemoteTargets } from '../../src/router/index.ts'
import type { ProfileSpec } from '../../src/config/types.ts'
import { harness, waitFor, type Harness } from '../instances/helpers.ts'
import { cookbook, profile, testApp } from './helpers.ts'
import { coldModel } from '../router/fixtures.ts'

const dispatcher = new Agent()
afterAll(() => dispatcher.close())

const model = (id: string, over: Partial<ModelState> = {}): ModelState => coldModel(id, { names: [], ...over })

function appOver(p: ProfileSpec, instances: LocalInstances, remote?: { name: string; forward: RemoteTargets['forward'] }) {
  const peerState: NodeState | undefined = remote && {
    id: 'peer-1',
    name: remote.name,
    herdVersion: 't',
    llamaVersion: null,
    startedAt: 0,
    seq: 1,
    status: 'ready',
    resources: { gpus: [], sysmem: { totalMb: 1, freeMb: 1 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1 },
    // Behind the local node: a cold start there needs eviction first.
    models: [model(p.id, { canFitNow: false })],
    peers: [],
  }
  const router = new Router({
    logger: pino({ level: 'silent' }),
    local: { logger: pino({ level: 'silent' }), instances, dispatcher, nodeName: 'node-a', profile: (id) => (id === p.id ? p : undefined) },
    localModels: () => [model(p.id)],
    localResources: () => ({ gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 }),
    draining: () => false,
    ...(remote && peerState ? { remote: { peers: () => [{ id: 'peer-1', name: remote.name, fresh: true, state: peerState }], forward: remote.forward } } : {}),
  })
  const t = testApp({ cookbook: cookbook([p]), over: { router, loading: { afterMs: 30, everyMs: 30 } } })
  return t.app
}

const stream = (content = 'hi') => ({
  method: 'POST' as const,
  url: '/v1/chat/completions',
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify({ model: 'tiny', stream: true, messages: [{ role: 'user', content }] }),
})

const comments = (payload: string): string[] => payload.split('\n').filter((l) => l.startsWith(':'))

describe('loading status with the fake llama-server', () => {
  let h: Harness
  afterEach(async () => {
    await h.close()
  })

  it('tells a streaming client about a slow cold start, then streams the answer', async () => {
    h = await harness({ env: { FAKE_START_DELAY_MS: 400 } })
    const app = appOver(h.profile(), h.manager)
    const res = await app.inject(stream())
    await app.close()
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/event-stream')
    const lines = comments(res.payload)
    expect(lines.length).toBeGreaterThan(0)
    expect(lines[0]).toMatch(/^: herd: loading tiny:default on node-a \(\d+\.\d s\)$/)
    const data = res.payload.split('\n').filter((l) => l.startsWith('data: '))
    expect(data.at(-1)).toBe('data: [DONE]')
    expect(data.some((l) => l.includes('chat.completion.chunk'))).toBe(true)
  })

  it('tells a streaming client it is next in line while the one slot is busy', async () => {
    // 10 tokens at 20/s: the first request holds the slot for about half a second.
    h = await harness({ env: { FAKE_TOKEN_RATE: 20, FAKE_TOKENS: 10 } })
    const p = h.profile({ args: ['-np', '1'] })
    const app = appOver(p, h.manager)
    const first = app.inject({ ...stream(), payload: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'first' }] }) })
    await waitFor(() => h.manager.load()[0]?.slotsBusy === 1, 5_000, 'the first request to hold the slot')
    const second = await app.inject(stream('second'))
    expect((await first).statusCode).toBe(200)
    await app.close()
    expect(comments(second.payload)[0]).toMatch(/^: herd: queued for tiny:default on node-a, next in line \(\d+\.\d s\)$/)
    expect(second.payload.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })
})

describe('a retry after the comments', () => {
  it('continues the same stream with the next candidate', async () => {
    const p = profile('tiny:default')
    // The local cold start is watched for two comments, then fails; the peer serves.
    const instances: LocalInstances = {
      acquire: (_profile, o) =>
        new Promise<Lease>((_, reject) => {
          let reads = 0
          o.onWaiting?.((): QueueWait => {
            if (++reads === 2) setImmediate(() => reject(new HerdError('spawn_failed', "llama-server for 'tiny:default' failed to start")))
            return { kind: 'loading' }
          })
        }),
    }
    const forwarded: string[] = []
    const app = appOver(p, instances, {
      name: 'gpu-box-2',
      forward: async (peerId) => {
        forwarded.push(peerId)
        return {
          status: 200,
          headers: { 'content-type': 'text/event-stream' },
          body: Readable.from(['data: {"from":"peer"}\n\n', 'data: [DONE]\n\n']),
          servedBy: 'gpu-box-2',
        }
      },
    })
    const res = await app.inject(stream())
    await app.close()
    expect(forwarded).toEqual(['peer-1'])
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-herd-node']).toBe('node-a')
    const lines = comments(res.payload)
    expect(lines.slice(0, 2).every((l) => l.startsWith(': herd: loading tiny:default on node-a'))).toBe(true)
    // No error event: the peer's answer follows the comments in the same stream.
    expect(res.payload).not.toContain('"error"')
    expect(res.payload.endsWith('data: {"from":"peer"}\n\ndata: [DONE]\n\n')).toBe(true)
  })
})
