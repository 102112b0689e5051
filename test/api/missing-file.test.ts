/** A profile whose model file is missing: its /v1/models status, and a 503 that SDKs do not retry (no Retry-After). */
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { HerdError, isRetryable } from '../../src/errors/index.ts'
import type { ModelState } from '../../src/mesh/types.ts'
import { ModelCatalog, type RoutablePeer } from '../../src/router/index.ts'
import { cookbook, profile, testApp } from './helpers.ts'

const book = cookbook([profile('gone:default'), profile('here:default')])

const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

function make(options: { peers?: RoutablePeer[]; route?: Parameters<typeof testApp>[0]['route'] } = {}) {
  const catalog = new ModelCatalog({
    nodeName: 'node-a',
    startedAt: 0,
    cookbook: () => book,
    peers: () => options.peers ?? [],
    fileMissing: (id) => id === 'gone:default',
  })
  const t = testApp({ cookbook: book, ...(options.route ? { route: options.route } : {}), over: { catalog } })
  apps.push(t.app)
  return t
}

const remote = (id: string, fileMissing: boolean): RoutablePeer => ({
  id: 'peer-1',
  name: 'node-b',
  fresh: true,
  state: {
    id: 'peer-1',
    name: 'node-b',
    herdVersion: 't',
    llamaVersion: null,
    startedAt: 0,
    seq: 1,
    status: 'ready',
    resources: { gpus: [], sysmem: { totalMb: 1, freeMb: 1 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1 },
    models: [
      {
        id,
        model: id.split(':')[0] ?? id,
        profile: 'default',
        names: [],
        capabilities: { completion: true, embeddings: false, rerank: false },
        instances: 0,
        readyInstances: 0,
        slotsTotal: 0,
        slotsBusy: 0,
        queueLength: 0,
        maxInstances: 1,
        maxQueueSize: 1,
        tokensPerSecond: null,
        estimatedVramMb: null,
        estimatedSysmemMb: null,
        canFitNow: !fileMissing,
        canFitAfterEviction: !fileMissing,
        ...(fileMissing ? { fileMissing } : {}),
      } satisfies ModelState,
    ],
    peers: [],
  },
})

const statusOf = (body: { data: { id: string; owned_by: string; herd: { status: string } }[] }, id: string) => {
  const e = body.data.find((m) => m.id === id)
  return e && { status: e.herd.status, owned_by: e.owned_by }
}

describe('a missing model file', () => {
  it('shows as herd.status missing_file in /v1/models; the others are ok', async () => {
    const { app } = make({ peers: [remote('far:default', true)] })
    const body = (await app.inject({ method: 'GET', url: '/v1/models' })).json()
    expect(statusOf(body, 'gone:default')).toEqual({ status: 'missing_file', owned_by: 'node-a' })
    expect(statusOf(body, 'here:default')).toEqual({ status: 'ok', owned_by: 'node-a' })
    expect(statusOf(body, 'far:default')).toEqual({ status: 'missing_file', owned_by: 'node-b' })
    expect((await app.inject({ method: 'GET', url: '/v1/models/gone:default' })).json().herd.status).toBe('missing_file')
  })

  it('lists the peer that has the file when it is missing here', async () => {
    const { app } = make({ peers: [remote('gone:default', false)] })
    const body = (await app.inject({ method: 'GET', url: '/v1/models' })).json()
    expect(statusOf(body, 'gone:default')).toEqual({ status: 'ok', owned_by: 'node-b' })
  })

  it('is answered 503 model_file_missing without Retry-After, while other 503s keep theirs', async () => {
    let code: 'model_file_missing' | 'spawn_failed' = 'model_file_missing'
    const { app } = make({
      route: async () => {
        throw new HerdError(code, code === 'model_file_missing' ? "model file for 'gone:default' not found: /models/x.gguf" : 'crashed')
      },
    })
    const ask = () =>
      app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, payload: '{"model":"gone:default"}' })
    const missing = await ask()
    expect(missing.statusCode).toBe(503)
    expect(missing.headers['x-herd-error']).toBe('model_file_missing')
    expect(missing.headers['retry-after']).toBeUndefined()
    expect(missing.json().error.message).toContain('/models/x.gguf')
    code = 'spawn_failed'
    expect((await ask()).headers['retry-after']).toBe('1')
  })

  it('may be retried on another node', () => {
    expect(isRetryable(new HerdError('model_file_missing', 'x'))).toBe(true)
  })
})
