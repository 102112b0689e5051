/**
 * Budget-aware routing through the HTTP surface (app.inject, a fake router): a `downgrade`
 * key over budget, or heading over it, goes to the cheapest equivalent and says so in
 * `x-herd-routed: budget` and `x-herd-model`; a `block` key, or one with no cheaper
 * equivalent, is refused 402.
 */
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import type { Cookbook } from '../../src/config/types.ts'
import type { BackendState } from '../../src/mesh/types.ts'
import { ModelCatalog, costMicros } from '../../src/router/index.ts'
import type { RouteRequest, UpstreamResponse } from '../../src/router/types.ts'
import type { Tenants } from '../../src/tenants/index.ts'
import { memoryTenants } from '../tenants/helpers.ts'
import { cookbook, json, profile, testApp } from './helpers.ts'

const ADMIN = 'admin-key'
const book: Cookbook = {
  ...cookbook([profile('llama:quality'), profile('llama:fast', { price: { inputPerMtok: 0.5, outputPerMtok: 0.5 } }), profile('qwen:default')], 'qwen:default'),
  equivalents: [['openai/gpt-4o', 'llama:quality', 'llama:fast']],
}
const backends: BackendState[] = [
  {
    name: 'openai',
    protocol: 'openai',
    egress: true,
    health: 'up',
    circuit: 'closed',
    inUse: 0,
    maxConcurrency: 8,
    queueLength: 0,
    maxQueueSize: 8,
    models: [
      { id: 'openai/gpt-4o', model: 'gpt-4o', names: [], price: { inputPerMtok: 2.5, outputPerMtok: 10 } },
      { id: 'openai/o1', model: 'o1', names: [], price: { inputPerMtok: 15, outputPerMtok: 60 } },
    ],
  },
]

const apps: FastifyInstance[] = []
const started: Tenants[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
  await Promise.all(started.splice(0).map((t) => t.stop()))
})

async function setup(clockAt = Date.UTC(2026, 11, 1, 0, 30)) {
  const catalog = new ModelCatalog({ nodeName: 'node-a', startedAt: 0, cookbook: () => book, peers: () => [], backends: () => backends })
  const { tenants, clock } = await memoryTenants({ cost: (u) => costMicros(catalog.price(u.model), u.promptTokens, u.completionTokens) }, { now: clockAt })
  started.push(tenants)
  const answer = (req: RouteRequest): UpstreamResponse => ({
    ...json({ object: 'chat.completion', usage: { prompt_tokens: 1000, completion_tokens: 100 } }),
    headers: { 'content-type': 'application/json', 'x-herd-model': req.profileId },
  })
  const { app, seen } = testApp({ cookbook: book, backends, apiKeys: [], over: { tenants, adminKeys: [ADMIN] }, route: async (req) => answer(req) })
  apps.push(app)
  const create = async (body: Record<string, unknown>): Promise<string> => {
    const res = await app.inject({
      method: 'POST',
      url: '/admin/keys',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    })
    expect(res.statusCode, res.body).toBe(201)
    return res.json().secret as string
  }
  const chat = (secret: string, model: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      payload: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    })
  return { app, seen, clock, create, chat }
}

describe('budget-aware routing', () => {
  it('moves a downgrade key that spent its budget to the cheapest equivalent, and says so', async () => {
    const t = await setup()
    // One gpt-4o answer (1000 in, 100 out) costs 0.0035: more than the budget.
    const secret = await t.create({ name: 'app', budget: { amount: 0.001, currency: 'usd', period: 'day', action: 'downgrade' } })
    const first = await t.chat(secret, 'openai/gpt-4o')
    expect(first.statusCode).toBe(200)
    expect(first.headers['x-herd-routed']).toBeUndefined()
    const second = await t.chat(secret, 'openai/gpt-4o')
    expect(second.statusCode, second.body).toBe(200)
    expect(second.headers['x-herd-routed']).toBe('budget')
    expect(second.headers['x-herd-model']).toBe('llama:quality')
    // Cheapest first, then the next cheaper one; never back to the dear one.
    expect(t.seen[1]).toMatchObject({ profileId: 'llama:quality', alternatives: ['llama:fast'], strategy: 'first-available' })
  })

  it('moves it before the budget is spent when its spend rate would spend it before the period ends', async () => {
    // At noon, 0.0035 spent in half a day projects to 0.007 by midnight: over 0.005. 0.007 is well under 1.
    const t = await setup(Date.UTC(2026, 11, 1, 12, 0))
    const secret = await t.create({ name: 'app', budget: '0.005usd/day:downgrade' })
    await t.chat(secret, 'openai/gpt-4o')
    const next = await t.chat(secret, 'openai/gpt-4o')
    expect(next.headers['x-herd-routed']).toBe('budget')
    const slow = await setup(Date.UTC(2026, 11, 1, 12, 0))
    const rich = await slow.create({ name: 'rich', budget: '1usd/day:downgrade' })
    await slow.chat(rich, 'openai/gpt-4o')
    expect((await slow.chat(rich, 'openai/gpt-4o')).headers['x-herd-routed']).toBeUndefined()
  })

  it('refuses a block key, and a downgrade key with no cheaper equivalent, 402 budget_exceeded once spent', async () => {
    const t = await setup()
    const block = await t.create({ name: 'block', budget: '0.001usd/day' })
    await t.chat(block, 'openai/gpt-4o')
    const refused = await t.chat(block, 'openai/gpt-4o')
    expect(refused.statusCode).toBe(402)
    expect(refused.json().error.code).toBe('budget_exceeded')
    const down = await t.create({ name: 'down', budget: '0.001usd/day:downgrade' })
    await t.chat(down, 'openai/o1')
    expect((await t.chat(down, 'openai/o1')).statusCode).toBe(402)
  })

  it('keeps to the key’s model list: an equivalent it may not use is no way out', async () => {
    const t = await setup()
    const secret = await t.create({ name: 'app', models: ['openai/*', 'llama:fast'], budget: '0.001usd/day:downgrade' })
    await t.chat(secret, 'openai/gpt-4o')
    const res = await t.chat(secret, 'openai/gpt-4o')
    expect(res.headers['x-herd-model']).toBe('llama:fast')
    expect(t.seen[1]?.alternatives).toBeUndefined()
  })
})
