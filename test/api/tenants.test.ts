/**
 * Tenant keys through the HTTP surface (app.inject, a fake router): who gets in, which
 * models a key may use, rates, quotas and budgets with OpenAI's headers, and /admin/keys.
 */
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import type { Cookbook } from '../../src/config/types.ts'
import type { RouteRequest } from '../../src/router/types.ts'
import type { Tenants, TenantsInit } from '../../src/tenants/index.ts'
import { memoryTenants } from '../tenants/helpers.ts'
import { cookbook, json, profile, testApp } from './helpers.ts'

const API = 'api-key'
const ADMIN = 'admin-key'
const book: Cookbook = {
  ...cookbook([profile('qwen:default'), profile('qwen-coder:default'), profile('llama:default')], 'qwen:default'),
  routes: new Map([['coder', { name: 'coder', candidates: ['qwen-coder', 'llama'], strategy: 'first-available' as const, description: undefined }]]),
  fallbacks: new Map([['qwen:default', ['llama:default']]]),
}

const apps: FastifyInstance[] = []
const started: Tenants[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
  await Promise.all(started.splice(0).map((t) => t.stop()))
})

async function setup(options: { apiKeys?: string[]; adminKeys?: string[]; init?: Partial<TenantsInit>; usage?: unknown } = {}) {
  const { tenants, clock } = await memoryTenants(options.init)
  started.push(tenants)
  const { app, seen } = testApp({
    cookbook: book,
    apiKeys: options.apiKeys ?? [API],
    over: { tenants, adminKeys: options.adminKeys ?? [ADMIN] },
    route: async () => json({ object: 'chat.completion', usage: options.usage ?? { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } }),
  })
  apps.push(app)
  const create = async (body: Record<string, unknown>): Promise<{ id: string; secret: string }> => {
    const res = await app.inject({
      method: 'POST',
      url: '/admin/keys',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    })
    expect(res.statusCode, res.body).toBe(201)
    return { id: res.json().key.id, secret: res.json().secret }
  }
  const chat = (key: string | undefined, body: Record<string, unknown> = {}, url = '/v1/chat/completions') =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
      payload: JSON.stringify({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }], ...body }),
    })
  return { app, seen, tenants, clock, create, chat }
}

describe('tenant keys at the door', () => {
  it('lets a tenant key in, and asks for a key once tenant keys exist on a node with no config keys', async () => {
    const t = await setup({ apiKeys: [], adminKeys: [ADMIN] })
    expect((await t.chat(undefined)).statusCode).toBe(401)
    const { secret } = await t.create({ name: 'alice' })
    expect((await t.chat(secret)).statusCode).toBe(200)
    const none = await setup({ apiKeys: [], adminKeys: [] })
    expect((await none.chat(undefined)).statusCode).toBe(200)
  })

  it('answers 401 for an unknown, a revoked and an expired key', async () => {
    const t = await setup()
    const { id, secret } = await t.create({ name: 'alice' })
    const expiring = await t.create({ name: 'bob', expires_in: '1h' })
    expect((await t.chat('herd-not-a-key')).json().error.code).toBe('unauthorized')
    expect((await t.chat(secret)).statusCode).toBe(200)
    await t.app.inject({ method: 'DELETE', url: `/admin/keys/${id}`, headers: { authorization: `Bearer ${ADMIN}` } })
    const revoked = await t.chat(secret)
    expect(revoked.statusCode).toBe(401)
    expect(revoked.json().error.message).toMatch(/revoked/)
    t.clock.now += 3_600_001
    const expired = await t.chat(expiring.secret)
    expect(expired.statusCode).toBe(401)
    expect(expired.json().error.message).toMatch(/expired/)
  })

  it('keeps admin routes for http.admin_keys when set, and for http.api_keys when not', async () => {
    const t = await setup()
    const { secret } = await t.create({ name: 'alice' })
    const get = (key: string) => t.app.inject({ method: 'GET', url: '/admin/keys', headers: { authorization: `Bearer ${key}` } })
    expect((await get(ADMIN)).statusCode).toBe(200)
    expect((await get(API)).statusCode).toBe(401)
    expect((await get(secret)).statusCode).toBe(401)
    // Admin keys pass the other protected routes too.
    expect((await t.chat(ADMIN)).statusCode).toBe(200)
    const old = await setup({ adminKeys: [] })
    expect((await old.app.inject({ method: 'GET', url: '/admin/keys', headers: { authorization: `Bearer ${API}` } })).statusCode).toBe(200)
  })

  it('refuses to make tenant keys on a node that has no admin or api keys', async () => {
    const t = await setup({ apiKeys: [], adminKeys: [] })
    const res = await t.app.inject({ method: 'POST', url: '/admin/keys', headers: { 'content-type': 'application/json' }, payload: '{"name":"x"}' })
    expect(res.statusCode).toBe(400)
    expect(res.json().error.message).toMatch(/http\.admin_keys/)
  })
})

describe('models a key may use', () => {
  it('answers 403 model_not_allowed for a model outside the list, in both error shapes', async () => {
    const t = await setup()
    const { secret } = await t.create({ name: 'alice', models: 'qwen*' })
    expect((await t.chat(secret, { model: 'qwen' })).statusCode).toBe(200)
    const refused = await t.chat(secret, { model: 'llama' })
    expect(refused.statusCode).toBe(403)
    expect(refused.json().error).toMatchObject({ code: 'model_not_allowed', type: 'permission_error', param: 'model' })
    const anthropic = await t.chat(secret, { model: 'llama', max_tokens: 5 }, '/v1/messages')
    expect(anthropic.statusCode).toBe(403)
    expect(anthropic.json()).toEqual({ type: 'error', error: { type: 'permission_error', message: expect.stringMatching(/may not use/) } })
  })

  it('narrows a route to its allowed candidates and drops fallbacks the key may not use', async () => {
    const t = await setup()
    const { secret } = await t.create({ name: 'alice', models: ['llama', 'qwen'] })
    expect((await t.chat(secret, { model: 'coder' })).statusCode).toBe(200)
    expect(t.seen.at(-1)).toMatchObject({ profileId: 'llama:default', alternatives: undefined })
    expect((await t.chat(secret, { model: 'qwen' })).statusCode).toBe(200)
    expect(t.seen.at(-1)).toMatchObject({ profileId: 'qwen:default', alternatives: ['llama:default'] })
    const only = await t.create({ name: 'bob', models: ['qwen'] })
    await t.chat(only.secret, { model: 'qwen' })
    expect(t.seen.at(-1)?.alternatives).toBeUndefined()
    const route = await t.create({ name: 'carol', models: ['coder'] })
    await t.chat(route.secret, { model: 'coder' })
    expect(t.seen.at(-1)).toMatchObject({ profileId: 'qwen-coder:default', alternatives: ['llama:default'] })
  })

  it('marks requests of a no-egress key for the router and for peers', async () => {
    const t = await setup()
    const { secret } = await t.create({ name: 'inside', no_egress: true })
    // The client cannot lift it.
    await t.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}`, 'x-herd-no-egress': '0' },
      payload: JSON.stringify({ model: 'qwen', messages: [] }),
    })
    const seen = t.seen.at(-1) as RouteRequest
    expect(seen.noEgress).toBe(true)
    expect(seen.headers['x-herd-no-egress']).toBe('1')
  })
})

describe('limits', () => {
  it('answers 429 rate_limited with Retry-After, and OpenAI headers on every answer to the key', async () => {
    const t = await setup()
    const { secret } = await t.create({ name: 'alice', rpm: 2, tpm: 1000 })
    const first = await t.chat(secret)
    expect(first.statusCode).toBe(200)
    expect(first.headers).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-limit-tokens': '1000' })
    expect(first.headers['x-ratelimit-reset-requests']).toMatch(/^\d+(\.\d+)?s$|^\d+m\d+(\.\d+)?s$/)
    // Other routes carry them as well (nothing counted).
    const models = await t.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${secret}` } })
    expect(models.headers['x-ratelimit-remaining-requests']).toBe('1')
    expect((await t.chat(secret)).statusCode).toBe(200)
    const limited = await t.chat(secret)
    expect(limited.statusCode).toBe(429)
    expect(limited.json().error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(limited.headers['x-ratelimit-remaining-requests']).toBe('0')
    expect(limited.headers['x-herd-error']).toBe('rate_limited')
    // A key without rates gets none of the headers.
    const free = await t.create({ name: 'free' })
    expect((await t.chat(free.secret)).headers['x-ratelimit-limit-requests']).toBeUndefined()
  })

  it('sends the headers on refusals before admission too (bad body, unknown model, a model the key may not use), nothing counted', async () => {
    const t = await setup()
    const { secret } = await t.create({ name: 'alice', rpm: 5, tpm: 1000, models: ['llama*'] })
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      payload: '{not json',
    })
    const unknown = await t.chat(secret, { model: 'nope' })
    const notAllowed = await t.chat(secret, { model: 'qwen' })
    for (const [res, status] of [
      [bad, 400],
      [unknown, 404],
      [notAllowed, 403],
    ] as const) {
      expect(res.statusCode, res.body).toBe(status)
      expect(res.headers).toMatchObject({ 'x-ratelimit-limit-requests': '5', 'x-ratelimit-remaining-requests': '5', 'x-ratelimit-limit-tokens': '1000' })
      expect(res.headers['x-ratelimit-reset-requests']).toMatch(/s$/)
    }
    const ok = await t.chat(secret, { model: 'llama' })
    expect(ok.statusCode).toBe(200)
    expect(ok.headers['x-ratelimit-remaining-requests']).toBe('4')
  })

  it('admits tokens on an estimate and settles on the usage the answer reports', async () => {
    const t = await setup({ usage: { prompt_tokens: 3, completion_tokens: 4 } })
    const { id, secret } = await t.create({ name: 'alice', tpm: 500 })
    const res = await t.chat(secret, { max_tokens: 300 })
    expect(res.statusCode).toBe(200)
    expect(Number(res.headers['x-ratelimit-remaining-tokens'])).toBeLessThan(200)
    // After the body ended: the real 7 tokens, not the estimate.
    expect(t.tenants.usage(id).rate.tokens).toBe(7)
    const show = await t.app.inject({ method: 'GET', url: `/admin/keys/${id}`, headers: { authorization: `Bearer ${ADMIN}` } })
    expect(show.json().usage).toMatchObject({ requests: 1, tokens: 7, tokens_today: 7 })
  })

  it('answers 429 quota_exceeded once the day’s tokens are used', async () => {
    const t = await setup({ usage: { prompt_tokens: 50, completion_tokens: 60 } })
    const { secret } = await t.create({ name: 'alice', tokens_per_day: 100 })
    expect((await t.chat(secret)).statusCode).toBe(200)
    const res = await t.chat(secret)
    expect(res.statusCode).toBe(429)
    expect(res.json().error.code).toBe('quota_exceeded')
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('answers 402 budget_exceeded once the spend reaches the budget (Anthropic clients read billing_error)', async () => {
    const t = await setup({ init: { cost: () => 600_000 } })
    const { secret } = await t.create({ name: 'alice', budget: '1usd/day' })
    expect((await t.chat(secret)).statusCode).toBe(200)
    expect((await t.chat(secret)).statusCode).toBe(200)
    const res = await t.chat(secret)
    expect(res.statusCode).toBe(402)
    expect(res.json().error).toMatchObject({ code: 'budget_exceeded', type: 'insufficient_quota' })
    const anthropic = await t.chat(secret, { max_tokens: 5 }, '/v1/messages')
    expect(anthropic.json().error.type).toBe('billing_error')
  })
})

describe('/admin/keys', () => {
  it('shows the secret once, and lists, shows, changes and revokes keys', async () => {
    const t = await setup()
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }
    const made = await t.app.inject({
      method: 'POST',
      url: '/admin/keys',
      headers: admin,
      payload: JSON.stringify({ name: 'alice', models: 'qwen*,coder', rpm: 60, budget: '10usd/month', no_egress: true, expires_in: '30d' }),
    })
    expect(made.statusCode).toBe(201)
    const { key, secret } = made.json()
    expect(secret).toMatch(/^herd-/)
    expect(key).toMatchObject({
      name: 'alice',
      models: ['qwen*', 'coder'],
      rpm: 60,
      no_egress: true,
      status: 'active',
      version: 1,
      budget: { amount: 10, currency: 'usd', period: 'month', action: 'block' },
    })
    expect(key.hash).toBeUndefined()
    const list = await t.app.inject({ method: 'GET', url: '/admin/keys', headers: admin })
    expect(list.body).not.toContain(secret)
    expect(list.json().keys.map((k: { id: string }) => k.id)).toEqual([key.id])
    const patched = await t.app.inject({ method: 'PATCH', url: `/admin/keys/${key.id}`, headers: admin, payload: '{"rpm":null,"tpm":5}' })
    expect(patched.json().key).toMatchObject({ rpm: null, tpm: 5, version: 2 })
    const bad = await t.app.inject({ method: 'PATCH', url: `/admin/keys/${key.id}`, headers: admin, payload: '{"rpm":-1}' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.param).toBe('rpm')
    const revoked = await t.app.inject({ method: 'DELETE', url: `/admin/keys/${key.id}`, headers: admin })
    expect(revoked.json().key).toMatchObject({ revoked: true, status: 'revoked' })
    expect((await t.app.inject({ method: 'GET', url: '/admin/keys', headers: admin })).json().keys).toEqual([])
    expect((await t.app.inject({ method: 'GET', url: '/admin/keys?all=true', headers: admin })).json().keys).toHaveLength(1)
    const missing = await t.app.inject({ method: 'GET', url: '/admin/keys/key_000000000000000000000000', headers: admin })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().error.code).toBe('key_not_found')
  })
})
