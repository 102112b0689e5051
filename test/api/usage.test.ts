/**
 * Reading usage: `GET /admin/usage` grouped by key, model, node and day; `herd usage` as a
 * table, JSON and CSV; tenant tokens and spend in /metrics with bounded labels.
 */
import type { FastifyInstance } from 'fastify'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import type { Cookbook } from '../../src/config/types.ts'
import { Metrics, MAX_TENANT_LABELS } from '../../src/api/metrics.ts'
import { usageCommand } from '../../src/cli/usage-report.ts'
import type { Tenants } from '../../src/tenants/index.ts'
import { memoryTenants } from '../tenants/helpers.ts'
import { cookbook, json, profile, testApp } from './helpers.ts'

const ADMIN = 'admin-key'
const book: Cookbook = cookbook([profile('qwen:default'), profile('llama:default')], 'qwen:default')

const apps: FastifyInstance[] = []
const started: Tenants[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
  await Promise.all(started.splice(0).map((t) => t.stop()))
})

async function setup(options: { cacheHit?: boolean } = {}) {
  // 1 micro per prompt token, 10 per completion token.
  const { tenants, clock } = await memoryTenants({ cost: (u) => u.promptTokens + u.completionTokens * 10 })
  started.push(tenants)
  const { app, metrics } = testApp({
    cookbook: book,
    apiKeys: [],
    over: { tenants, adminKeys: [ADMIN], currency: 'eur' },
    route: async (req) => ({
      ...json({ object: 'chat.completion', usage: { prompt_tokens: 100, completion_tokens: 20 } }),
      headers: { 'content-type': 'application/json', 'x-herd-model': req.profileId, ...(options.cacheHit ? { 'x-herd-cache': 'hit' } : {}) },
    }),
  })
  tenants.on('usage:settled', (u) => metrics.tenantUsage(u))
  apps.push(app)
  const create = async (name: string): Promise<{ id: string; secret: string }> => {
    const res = await app.inject({
      method: 'POST',
      url: '/admin/keys',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ name }),
    })
    return { id: res.json().key.id, secret: res.json().secret }
  }
  const chat = (secret: string, model: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      payload: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    })
  const usage = (query: string) => app.inject({ method: 'GET', url: `/admin/usage${query}`, headers: { authorization: `Bearer ${ADMIN}` } })
  return { app, tenants, clock, create, chat, usage, metrics }
}

describe('GET /admin/usage', () => {
  it('sums tokens and spend per key and model, in the node currency', async () => {
    const t = await setup()
    const alice = await t.create('alice')
    const bob = await t.create('bob')
    expect((await t.chat(alice.secret, 'qwen')).statusCode).toBe(200)
    await t.chat(alice.secret, 'qwen')
    await t.chat(alice.secret, 'llama')
    await t.chat(bob.secret, 'llama')
    const res = await t.usage(`?group_by=key,model&from=${t.clock.now - 3_600_000}&to=${t.clock.now + 1}`)
    expect(res.statusCode, res.body).toBe(200)
    const body = res.json()
    expect(body.currency).toBe('eur')
    expect(body.group_by).toEqual(['key', 'model'])
    expect(body.rows).toEqual([
      { key: alice.id, model: 'qwen:default', requests: 2, prompt_tokens: 200, completion_tokens: 40, cost_micros: 600, cost: 0.0006, cache_hits: 0 },
      expect.objectContaining({ model: 'llama:default', requests: 1, cost_micros: 300 }),
      expect.objectContaining({ model: 'llama:default', requests: 1, cost_micros: 300 }),
    ])
    const all = (await t.usage('?group_by=node,day')).json()
    expect(all.rows).toEqual([
      expect.objectContaining({ node: 'node-a', day: new Date(t.clock.now).toISOString().slice(0, 10), requests: 4, cost_micros: 1200 }),
    ])
  })

  it('refuses an unknown group, a bad time and an empty span with 400, and needs the admin key', async () => {
    const t = await setup()
    expect((await t.usage('?group_by=key,colour')).json().error).toMatchObject({ code: 'invalid_request', param: 'group_by' })
    expect((await t.usage('?from=yesterday')).json().error).toMatchObject({ code: 'invalid_request', param: 'from' })
    expect((await t.usage('?from=2000&to=1000')).statusCode).toBe(400)
    const alice = await t.create('alice')
    expect((await t.app.inject({ method: 'GET', url: '/admin/usage', headers: { authorization: `Bearer ${alice.secret}` } })).statusCode).toBe(401)
  })

  it('prints herd usage as a table, JSON and CSV', async () => {
    const t = await setup()
    const alice = await t.create('alice')
    await t.chat(alice.secret, 'qwen')
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' })
    const dir = await mkdtemp(join(tmpdir(), 'herd-usage-'))
    const config = join(dir, 'config.yaml')
    await writeFile(config, 'log_level: silent\n')
    const run = async (args: string[]): Promise<string> => {
      const out = new PassThrough()
      let text = ''
      out.on('data', (c: Buffer) => (text += c.toString()))
      expect(await usageCommand([...args, '--url', url, '--key', ADMIN, '--config', config], out, () => t.clock.now)).toBe(0)
      return text
    }
    const tableText = await run(['--by', 'key,model'])
    expect(tableText).toMatch(/KEY\s+MODEL\s+REQUESTS\s+PROMPT\s+COMPLETION\s+CACHE HITS\s+SPEND \(eur\)/)
    expect(tableText).toContain(alice.id)
    expect(tableText).toMatch(/qwen:default\s+1\s+100\s+20\s+0\s+0\.0003/)
    expect(JSON.parse(await run(['--json', '--by', 'model'])).rows[0]).toMatchObject({ model: 'qwen:default', requests: 1 })
    expect((await run(['--csv', '--by', 'model', '--since', '1h'])).split('\n')[1]).toBe('qwen:default,1,100,20,0,0.0003')
    await rm(dir, { recursive: true, force: true })
  })
})

describe('tenant metrics', () => {
  it('counts tokens and spend per key id and model, never a secret, and caps the keys it names', async () => {
    const t = await setup()
    const alice = await t.create('alice')
    await t.chat(alice.secret, 'qwen')
    const text = await t.metrics.registry.metrics()
    expect(text).toContain(`herd_tenant_tokens_total{key="${alice.id}",model="qwen:default",kind="prompt"} 100`)
    expect(text).toContain(`herd_tenant_tokens_total{key="${alice.id}",model="qwen:default",kind="completion"} 20`)
    expect(text).toContain(`herd_tenant_spend_total{key="${alice.id}",model="qwen:default"} 0.0003`)
    expect(text).not.toContain(alice.secret)
    const m = new Metrics({ load: () => [] }, { defaultMetrics: false })
    for (let i = 0; i < MAX_TENANT_LABELS + 20; i++) m.tenantUsage({ keyId: `key_${i}`, model: 'm', promptTokens: 1, completionTokens: 0, costMicros: 0 })
    const capped = await m.registry.metrics()
    expect(capped.match(/^herd_tenant_tokens_total\{/gm)?.length).toBe(MAX_TENANT_LABELS + 1)
    expect(capped).toContain('herd_tenant_tokens_total{key="other",model="m",kind="prompt"} 20')
  })
})

describe('response-cache hits in the ledger', () => {
  it('counts a hit under a key with its tokens, at no cost, as a cache hit', async () => {
    const { tenants, create, chat } = await setup({ cacheHit: true })
    const settled: { costMicros: number; cached?: boolean; promptTokens: number }[] = []
    tenants.on('usage:settled', (u) => settled.push(u))
    const alice = await create('alice')
    expect((await chat(alice.secret, 'qwen')).statusCode).toBe(200)
    expect(settled).toEqual([expect.objectContaining({ promptTokens: 100, costMicros: 0, cached: true })])
  })
})
