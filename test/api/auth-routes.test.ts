/**
 * Every registered route × every way of spelling its path: protected routes answer 401
 * without a key and their normal answer with one; open routes answer without a key. The
 * routes come from the app itself (its onRoute hook), so a route added later is covered,
 * and one added without a decision does not register at all.
 */
import type { FastifyInstance, InjectOptions } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import type { RoutePolicy } from '../../src/api/auth.ts'
import type { Tenants } from '../../src/tenants/index.ts'
import { memoryTenants } from '../tenants/helpers.ts'
import { cookbook, profile, testApp } from './helpers.ts'

const KEY = 'sekrit'
const book = cookbook(
  [
    profile('tiny:default'),
    profile('embed:default', { capabilities: { completion: false, embeddings: true, rerank: false } }),
    profile('rr:default', { capabilities: { completion: false, embeddings: false, rerank: true } }),
  ],
  'tiny:default',
)

// Tenant keys, so /admin/keys registers; one key exists, for the routes that name one.
const { tenants } = await memoryTenants()
const keyId = tenants.createKey({ name: 'walk' }).record.id

const apps: FastifyInstance[] = []
function make(options: Partial<Parameters<typeof testApp>[0]> = {}, withTenants: Tenants = tenants): FastifyInstance {
  const { app } = testApp({ cookbook: book, apiKeys: [KEY], ...options, over: { tenants: withTenants, ...options.over } })
  apps.push(app)
  return app
}
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()))
  await tenants.stop()
})

/** Percent-encode the first letter of every segment: `/v1/models` → `/%761/%6Dodels`. */
function encodeLetters(path: string): string {
  return path.replace(/\/([A-Za-z])/g, (_m, c: string) => `/%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** Spellings of one path; `matches` says whether fastify should still find the route. */
const VARIANTS: { name: string; spell: (p: string) => string; matches: boolean }[] = [
  { name: 'plain', spell: (p) => p, matches: true },
  { name: 'percent-encoded letters', spell: encodeLetters, matches: true },
  { name: '// prefix', spell: (p) => `/${p}`, matches: true },
  { name: 'doubled inner slash', spell: (p) => p.replace(/\/([^/]*)$/, '//$1'), matches: true },
  { name: 'trailing slash', spell: (p) => `${p}/`, matches: true },
  // Paths are case-sensitive (model ids are): an upper-case path is an unknown route.
  { name: 'upper case', spell: (p) => p.toUpperCase(), matches: false },
]

/** A concrete URL for a registered route: wildcards get a model id that exists. */
function concrete(url: string): string {
  return url.replace('*', 'tiny:default').replace(':id', keyId).replace(':file', 'app.js')
}

function request(route: RoutePolicy, url: string, headers: Record<string, string>): InjectOptions {
  const method = route.method as InjectOptions['method']
  if (route.url === '/admin/keys' && route.method === 'POST')
    return { method, url, headers: { ...headers, 'content-type': 'application/json' }, payload: '{"name":"walk"}' }
  if (route.method !== 'POST') return { method, url, headers }
  // A model the endpoint serves, so the answer with a key is the route's success.
  const model = route.url.includes('embed') ? 'embed' : route.url.includes('rerank') ? 'rr' : 'tiny'
  return { method, url, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ model }) }
}

const app = make()
await app.ready()
const routes = app.routePolicies
const cases = routes.flatMap((route) =>
  VARIANTS.map((v) => ({ route, variant: v, label: `${route.method} ${route.url} (${v.name}: ${v.spell(concrete(route.url))})` })),
)

describe('authentication on every registered route', () => {
  it('sees every route fastify registered (none bypassed the onRoute hook)', () => {
    // printRoutes lists each node with its methods: "(GET, HEAD)". Count them all.
    const printed = [...app.printRoutes({ commonPrefix: false }).matchAll(/\(([A-Z, ]+)\)/g)].flatMap((m) => (m[1] ?? '').split(', '))
    expect(routes.length).toBe(printed.length)
    expect(routes.length).toBeGreaterThan(10)
    expect(routes.some((r) => r.method === 'HEAD')).toBe(true)
  })

  it.each(cases)('$label: protected answers 401 without a key, open answers', async ({ route, variant }) => {
    const url = variant.spell(concrete(route.url))
    const res = await app.inject(request(route, url, {}))
    // `/` has no letters to change case of: every spelling of it is the route.
    if (route.auth === 'open' && (variant.matches || url === concrete(route.url))) {
      expect(res.statusCode).toBeLessThan(300)
      return
    }
    expect(res.statusCode).toBe(401)
    expect(res.headers['x-herd-error']).toBe('unauthorized')
    expect(res.headers['x-herd-node']).toBe('node-a')
    expect(res.headers['x-request-id']).toBeTruthy()
    if (route.method === 'HEAD') return
    // Anthropic's routes answer in Anthropic's error shape; a path that matched nothing in OpenAI's.
    if (variant.matches && route.url.startsWith('/v1/messages'))
      expect(res.json()).toEqual({ type: 'error', error: { type: 'authentication_error', message: expect.any(String) } })
    else expect(res.json()).toMatchObject({ error: { code: 'unauthorized', type: 'authentication_error' } })
  })

  it.each(cases)('$label: with a key, the route answers normally', async ({ route, variant }) => {
    const url = variant.spell(concrete(route.url))
    const res = await app.inject(request(route, url, { authorization: `Bearer ${KEY}` }))
    expect(res.statusCode).not.toBe(401)
    if (variant.matches || url === concrete(route.url)) expect(res.statusCode).toBeLessThan(300)
    else expect(res.headers['x-herd-error']).toBe('not_found')
  })

  it.each([
    ['POST', '/%761/chat/completions'],
    ['GET', '/%61dmin/instances'],
    ['GET', '/adm%69n/logs'],
    ['GET', '/%63luster/nodes'],
  ] as const)('refuses %s %s without a key (the bypasses of issue 7)', async (method, url) => {
    const res = await app.inject({
      method,
      url,
      headers: { 'content-type': 'application/json' },
      ...(method === 'POST' ? { payload: '{"model":"tiny"}' } : {}),
    })
    expect(res.statusCode).toBe(401)
    expect(res.json().error.code).toBe('unauthorized')
  })

  it('accepts the key as x-api-key (Anthropic clients) and a case-insensitive Bearer scheme', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/models', headers: { 'x-api-key': KEY } })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `bearer ${KEY}` } })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/v1/models', headers: { 'x-api-key': 'nope' } })).statusCode).toBe(401)
    expect((await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Basic ${KEY}` } })).statusCode).toBe(401)
  })

  it('answers unknown routes 401 without a key and 404 with one, so route existence does not leak', async () => {
    const without = await app.inject({ method: 'GET', url: '/admin/secret-thing' })
    expect(without.statusCode).toBe(401)
    const withKey = await app.inject({ method: 'GET', url: '/admin/secret-thing', headers: { authorization: `Bearer ${KEY}` } })
    expect(withKey.statusCode).toBe(404)
    expect(withKey.json().error.code).toBe('not_found')
  })

  it('answers a malformed URL 401 without a key, and 400 in the envelope with one', async () => {
    const without = await app.inject({ method: 'GET', url: '/v1/models/%ZZ' })
    expect(without.statusCode).toBe(401)
    expect(without.headers['x-herd-error']).toBe('unauthorized')
    const withKey = await app.inject({ method: 'GET', url: '/v1/models/%ZZ', headers: { authorization: `Bearer ${KEY}` } })
    expect(withKey.statusCode).toBe(400)
    expect(withKey.json().error).toMatchObject({ code: 'invalid_request' })
    expect(withKey.headers['x-herd-error']).toBe('invalid_request')
    expect(withKey.headers['x-request-id']).toBeTruthy()
    expect(withKey.headers['x-herd-node']).toBe('node-a')
  })

  it('declares /healthz, /readyz, /version, /metrics and the dashboard shell open and everything else protected', () => {
    const open = new Set(routes.filter((r) => r.auth === 'open').map((r) => r.url))
    expect([...open].sort()).toEqual(['/', '/healthz', '/metrics', '/readyz', '/ui/:file', '/version'])
  })

  it('protects /metrics when http.metrics_auth is set', async () => {
    const closed = make({ over: { metricsAuth: true } })
    expect((await closed.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401)
    expect((await closed.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${KEY}` } })).statusCode).toBe(200)
  })

  it('lets every route answer without a key when no keys are configured', async () => {
    const { tenants: none } = await memoryTenants()
    const open = make({ apiKeys: [] }, none)
    for (const route of open.routePolicies) {
      const res = await open.inject(request(route, concrete(route.url), {}))
      // With no keys anywhere there is no key to name, and none may be made (it would lock the admin routes).
      if (route.url.startsWith('/admin/keys')) expect(res.statusCode, `${route.method} ${route.url}`).not.toBe(401)
      else expect(res.statusCode, `${route.method} ${route.url}`).toBeLessThan(300)
    }
    await none.stop()
  })

  it('refuses to register a route without an auth decision', () => {
    const fresh = make()
    expect(() => fresh.get('/v1/new-thing', async () => ({}))).toThrow(/config\.auth/)
    expect(() => fresh.get('/v1/typo', { config: { auth: 'opne' as 'open' } }, async () => ({}))).toThrow(/config\.auth/)
  })
})
