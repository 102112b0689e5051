/**
 * Routes and fallbacks in the router: a request names several models; the first that can
 * answer before the first byte does, in the strategy's order, and says so in x-herd-model.
 */
import { Readable } from 'node:stream'
import pino from 'pino'
import { Agent } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import type { ModelState } from '../../src/mesh/types.ts'
import { Router } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'
import { loadedModel, routablePeer } from './fixtures.ts'
import { profile } from '../api/helpers.ts'
import type { ProfileSpec } from '../../src/config/types.ts'

const dispatcher = new Agent()
afterAll(() => dispatcher.close())

function ok(servedBy: string): UpstreamResponse {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from('{}')]), servedBy }
}

/** Peers `p-<model>` each serving one model; `answer` decides what each forward gives. */
function setup(models: ModelState[], answer: (peerId: string) => Promise<UpstreamResponse>, local?: ProfileSpec) {
  const tried: string[] = []
  const r = new Router({
    logger: pino({ level: 'silent' }),
    local: {
      logger: pino({ level: 'silent' }),
      nodeName: 'self',
      dispatcher,
      profile: (id) => (local?.id === id ? local : undefined),
      // This node's only model is always full.
      instances: { acquire: () => Promise.reject(new HerdError('queue_full', 'full here')) },
    },
    localModels: () => [],
    localResources: () => ({ gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 }),
    draining: () => false,
    remote: {
      peers: () => models.map((m) => routablePeer(`p-${m.model}`, [m])),
      forward: async (peerId) => {
        tried.push(peerId)
        return answer(peerId)
      },
    },
  })
  return { r, tried }
}

function request(over: Partial<RouteRequest>): RouteRequest {
  return {
    requestId: 'r1',
    endpoint: 'chat',
    path: '/v1/chat/completions',
    profileId: 'a:default',
    body: Buffer.from('{}'),
    stream: false,
    hops: 0,
    headers: {},
    signal: new AbortController().signal,
    ...over,
  }
}

describe('routes and fallbacks', () => {
  it('serves with the first model that can answer, trying the next when one has no room, and names it in x-herd-model', async () => {
    const { r, tried } = setup([loadedModel('a:default'), loadedModel('b:default'), loadedModel('c:default')], async (peerId) => {
      if (peerId === 'p-a') throw new HerdError('queue_full', 'full')
      return ok(peerId)
    })
    const res = await r.route(request({ alternatives: ['b:default', 'c:default'], strategy: 'first-available' }))
    expect(res.servedBy).toBe('p-b')
    expect(res.headers['x-herd-model']).toBe('b:default')
    expect(tried).toEqual(['p-a', 'p-b'])
  })

  it('does not fall back when the request itself is at fault', async () => {
    const { r, tried } = setup([loadedModel('a:default'), loadedModel('b:default')], async () => {
      throw new HerdError('invalid_request', 'bad body')
    })
    await expect(r.route(request({ alternatives: ['b:default'] }))).rejects.toMatchObject({ code: 'invalid_request' })
    expect(tried).toEqual(['p-a'])
  })

  it('least-busy tries the model with a free slot before a busy one, whatever the cookbook order', async () => {
    const busy = loadedModel('a:default', { slotsTotal: 1, slotsBusy: 1, queueLength: 3 })
    const { r, tried } = setup([busy, loadedModel('b:default')], async (peerId) => ok(peerId))
    const res = await r.route(request({ alternatives: ['b:default'], strategy: 'least-busy' }))
    expect(res.headers['x-herd-model']).toBe('b:default')
    expect(tried).toEqual(['p-b'])
  })

  it('throws the last failure when no alternative can answer', async () => {
    const { r, tried } = setup([loadedModel('a:default'), loadedModel('b:default')], async () => {
      throw new HerdError('no_capacity', 'no room')
    })
    await expect(r.route(request({ alternatives: ['b:default'] }))).rejects.toMatchObject({ code: 'no_capacity' })
    expect(tried).toEqual(['p-a', 'p-b'])
  })

  it('names the model in x-herd-model on a plain request, and keeps a peer’s own answer to that', async () => {
    const { r } = setup([loadedModel('a:default')], async (peerId) => ({
      ...ok(peerId),
      headers: { 'content-type': 'application/json', 'x-herd-model': 'office/qwen' },
    }))
    expect((await r.route(request({}))).headers['x-herd-model']).toBe('office/qwen')
    const plain = setup([loadedModel('a:default')], async (peerId) => ok(peerId))
    expect((await plain.r.route(request({}))).headers['x-herd-model']).toBe('a:default')
  })

  it('ignores alternatives on a forwarded request: the first node chose the model', async () => {
    const { r, tried } = setup([loadedModel('a:default'), loadedModel('b:default')], async (peerId) => ok(peerId), profile('a:default'))
    // hops 1 is served here, whose a is full: that refusal is the answer. Trying b instead
    // would end in b's refusal (not served here), model_not_found.
    await expect(r.route(request({ hops: 1, alternatives: ['b:default'] }))).rejects.toMatchObject({ code: 'queue_full' })
    expect(tried).toEqual([])
  })
})
