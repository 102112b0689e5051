/** What a route name or a model with fallbacks turns into at the front door, and how /v1/models shows routes. */
import { describe, expect, it } from 'vitest'
import type { Cookbook, RouteSpec } from '../../src/config/types.ts'
import { cookbook, profile, testApp } from './helpers.ts'

const embed = { completion: false, embeddings: true, rerank: false }

function withRoutes(routes: RouteSpec[], fallbacks: [string, string[]][] = []): Cookbook {
  const base = cookbook([profile('coder:default'), profile('llama:default'), profile('embed:default', { capabilities: embed })])
  return { ...base, routes: new Map(routes.map((r) => [r.name, r])), fallbacks: new Map(fallbacks) }
}

const post = (model: string, path = '/v1/chat/completions') => ({
  method: 'POST' as const,
  url: path,
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify({ model, messages: [], input: 'x' }),
})

describe('routes at the front door', () => {
  it('sends a route name to the router as its first existing candidate, the rest as alternatives, with the strategy', async () => {
    const cb = withRoutes([{ name: 'dev', candidates: ['gone-model', 'coder', 'llama:default'], strategy: 'least-busy', description: undefined }])
    const { app, seen } = testApp({ cookbook: cb })
    expect((await app.inject(post('dev'))).statusCode).toBe(200)
    expect(seen[0]).toMatchObject({ profileId: 'coder:default', alternatives: ['llama:default'], strategy: 'least-busy' })
  })

  it('leaves out candidates that do not serve the endpoint, and refuses when none does', async () => {
    const cb = withRoutes([
      { name: 'mixed', candidates: ['embed', 'llama'], strategy: 'first-available', description: undefined },
      { name: 'vectors', candidates: ['embed'], strategy: 'first-available', description: undefined },
    ])
    const { app, seen } = testApp({ cookbook: cb })
    expect((await app.inject(post('mixed'))).statusCode).toBe(200)
    expect(seen[0]).toMatchObject({ profileId: 'llama:default' })
    expect(seen[0]?.alternatives).toBeUndefined()
    const refused = await app.inject(post('vectors'))
    expect(refused.statusCode).toBe(400)
    expect(refused.json()).toMatchObject({ error: { code: 'unsupported_endpoint' } })
    expect(refused.json().error.message).toContain("route 'vectors'")
  })

  it('answers model_not_found for a route none of whose candidates exists anywhere', async () => {
    const { app } = testApp({ cookbook: withRoutes([{ name: 'ghost', candidates: ['nope', 'x/y'], strategy: 'first-available', description: undefined }]) })
    const res = await app.inject(post('ghost'))
    expect(res.statusCode).toBe(404)
    expect(res.json()).toMatchObject({ error: { code: 'model_not_found' } })
  })

  it('gives a model its fallbacks as alternatives, tried in the cookbook’s order', async () => {
    const { app, seen } = testApp({ cookbook: withRoutes([], [['coder:default', ['llama', 'embed', 'unknown']]]) })
    await app.inject(post('coder'))
    // The embedding model cannot answer a chat request; an unknown name exists nowhere.
    expect(seen[0]).toMatchObject({ profileId: 'coder:default', alternatives: ['llama:default'], strategy: 'first-available' })
  })

  it('lists a route in /v1/models with the models it stands for and its strategy', async () => {
    const { app } = testApp({ cookbook: withRoutes([{ name: 'dev', candidates: ['coder', 'nope'], strategy: 'first-available', description: 'for coding' }]) })
    const data = (await app.inject({ method: 'GET', url: '/v1/models' })).json().data as { id: string; herd: Record<string, unknown> }[]
    const dev = data.find((m) => m.id === 'dev')
    expect(dev?.herd).toMatchObject({
      profile: 'coder:default',
      description: 'for coding',
      route: { candidates: ['coder:default'], strategy: 'first-available' },
    })
    expect(data.find((m) => m.id === 'coder')?.herd['route']).toBeUndefined()
  })

  it('sends a plain model without alternatives', async () => {
    const { app, seen } = testApp({ cookbook: withRoutes([]) })
    await app.inject(post('llama'))
    expect(seen[0]?.alternatives).toBeUndefined()
  })
})
