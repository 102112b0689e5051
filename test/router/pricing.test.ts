/**
 * Prices: read from the cookbook (profiles, backend models, a backend's default), gossiped
 * by peers, turned into the spend of an answer, and used by the `cheapest` strategy.
 */
import { Readable } from 'node:stream'
import pino from 'pino'
import { Agent } from 'undici'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadCookbook } from '../../src/config/index.ts'
import type { Cookbook, ProfileSpec } from '../../src/config/types.ts'
import type { BackendState } from '../../src/mesh/types.ts'
import { parseNodeState } from '../../src/mesh/state-schema.ts'
import { ModelCatalog, Router, byPrice, costMicros, localPrice } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'
import { errorOf, tempDir, type TempDir } from '../config/helpers.ts'
import { loadedModel, routablePeer } from './fixtures.ts'

const dispatcher = new Agent()
afterAll(() => dispatcher.close())

const emptyCookbook: Cookbook = { profiles: new Map(), names: new Map(), defaultModel: undefined, sources: [] }

describe('prices', () => {
  let tmp: TempDir
  beforeEach(async () => {
    tmp = await tempDir()
  })
  afterEach(() => tmp.remove())

  it('reads price on profiles, on backend models and as a backend default', async () => {
    const file = await tmp.write(
      'cookbook.yaml',
      [
        'models:',
        '  - name: llama',
        '    profiles:',
        '      - id: quality',
        '        model_path: /m/llama.gguf',
        '        price: { input_per_mtok: 0.1, output_per_mtok: 0.2 }',
        'backends:',
        '  - name: openai',
        '    protocol: openai',
        '    base_url: https://api.openai.com/v1',
        '    price: { input_per_mtok: 1, output_per_mtok: 4 }',
        '    models: [gpt-4o-mini, { name: gpt-4o, price: { input_per_mtok: 2.5, output_per_mtok: 10 } }]',
      ].join('\n'),
    )
    const book = await loadCookbook(file, { env: {} })
    expect(book.profiles.get('llama:quality')?.price).toEqual({ inputPerMtok: 0.1, outputPerMtok: 0.2 })
    expect(book.backends?.[0]?.price).toEqual({ inputPerMtok: 1, outputPerMtok: 4 })
    expect(book.backends?.[0]?.models[1]?.price).toEqual({ inputPerMtok: 2.5, outputPerMtok: 10 })
  })

  it('refuses a negative price and unknown fields in one', async () => {
    const file = await tmp.write(
      'cookbook.yaml',
      [
        'models:',
        '  - name: llama',
        '    profiles:',
        '      - id: q',
        '        model_path: /m/l.gguf',
        '        price: { input_per_mtok: -1, output_per_mtok: 0 }',
      ].join('\n'),
    )
    expect((await errorOf(() => loadCookbook(file, { env: {} }))).message).toMatch(/price/)
  })

  it('costs an answer in millionths: tokens times the price per million', () => {
    expect(costMicros({ inputPerMtok: 2.5, outputPerMtok: 10 }, 1000, 100)).toBe(3500)
    expect(costMicros(undefined, 1000, 100)).toBe(0)
  })

  it('spreads cost_per_hour over the generated tokens at the learned rate, else uses the written price', () => {
    const p = { id: 'a:q' } as ProfileSpec
    // 3.6 per hour at 100 tokens/s: 360,000 tokens an hour, 10 per million.
    expect(localPrice(p, 3.6, 100)).toEqual({ inputPerMtok: 0, outputPerMtok: 10 })
    expect(localPrice(p, 3.6, null)).toEqual({ inputPerMtok: 0, outputPerMtok: 0 })
    expect(localPrice({ ...p, price: { inputPerMtok: 1, outputPerMtok: 2 } }, 3.6, 100)).toEqual({ inputPerMtok: 1, outputPerMtok: 2 })
  })

  it('orders cheapest first, unknown prices last, ties as written', () => {
    const prices: Record<string, { inputPerMtok: number; outputPerMtok: number } | undefined> = {
      a: { inputPerMtok: 5, outputPerMtok: 5 },
      b: undefined,
      c: { inputPerMtok: 0, outputPerMtok: 0 },
      d: { inputPerMtok: 0, outputPerMtok: 0 },
    }
    expect(byPrice(['a', 'b', 'c', 'd'], (id) => prices[id])).toEqual(['c', 'd', 'a', 'b'])
  })

  it('prices a model a peer serves from its gossip, and keeps a price a peer states within the cap', () => {
    const remote = loadedModel('big:default', { price: { inputPerMtok: 3, outputPerMtok: 15 } })
    const backend: BackendState = {
      name: 'oa',
      protocol: 'openai',
      egress: true,
      health: 'up',
      circuit: 'closed',
      inUse: 0,
      maxConcurrency: 4,
      queueLength: 0,
      maxQueueSize: 4,
      models: [{ id: 'oa/gpt-4o', model: 'gpt-4o', names: [], price: { inputPerMtok: 2.5, outputPerMtok: 10 } }],
    }
    const p = routablePeer('p1', [remote], { backends: [backend] })
    const catalog = new ModelCatalog({ nodeName: 'self', startedAt: 0, cookbook: () => emptyCookbook, peers: () => [p] })
    expect(catalog.price('big:default')).toEqual({ inputPerMtok: 3, outputPerMtok: 15 })
    expect(catalog.price('oa/gpt-4o')).toEqual({ inputPerMtok: 2.5, outputPerMtok: 10 })
    expect(catalog.price('nobody:default')).toBeUndefined()
    const parsed = parseNodeState(JSON.stringify(p.state))
    expect(parsed).not.toBeInstanceOf(Error)
    const tooDear = { ...p.state, models: [loadedModel('x:default', { price: { inputPerMtok: 1e12, outputPerMtok: 0 } })] }
    expect(parseNodeState(JSON.stringify(tooDear))).toBeInstanceOf(Error)
  })

  it('cheapest tries the lowest-priced candidate first, whatever the cookbook order', async () => {
    const dear = loadedModel('dear:default', { price: { inputPerMtok: 10, outputPerMtok: 30 } })
    const cheap = loadedModel('cheap:default', { price: { inputPerMtok: 0.1, outputPerMtok: 0.1 } })
    const peers = [routablePeer('p-dear', [dear]), routablePeer('p-cheap', [cheap])]
    const catalog = new ModelCatalog({ nodeName: 'self', startedAt: 0, cookbook: () => emptyCookbook, peers: () => peers })
    const tried: string[] = []
    const r = new Router({
      logger: pino({ level: 'silent' }),
      local: {
        logger: pino({ level: 'silent' }),
        nodeName: 'self',
        dispatcher,
        profile: () => undefined,
        instances: { acquire: () => Promise.reject(new Error('no local models here')) },
      },
      localModels: () => [],
      localResources: () => ({ gpus: [], sysmem: { totalMb: 1000, freeMb: 1000 }, vramBudgetFreeMb: null, sysmemBudgetFreeMb: 1000 }),
      draining: () => false,
      price: (id) => catalog.price(id),
      remote: {
        peers: () => peers,
        forward: async (peerId): Promise<UpstreamResponse> => {
          tried.push(peerId)
          return { status: 200, headers: {}, body: Readable.from([Buffer.from('{}')]), servedBy: peerId }
        },
      },
    })
    const req: RouteRequest = {
      requestId: 'r1',
      endpoint: 'chat',
      path: '/v1/chat/completions',
      profileId: 'dear:default',
      alternatives: ['cheap:default'],
      strategy: 'cheapest',
      body: Buffer.from('{}'),
      stream: false,
      hops: 0,
      headers: {},
      signal: new AbortController().signal,
    }
    const res = await r.route(req)
    expect(res.headers['x-herd-model']).toBe('cheap:default')
    expect(tried).toEqual(['p-cheap'])
  })
})
