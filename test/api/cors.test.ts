import { afterEach, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { cookbook, profile, testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

const ALLOWED = 'https://app.example.com'
const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] })

/** A listening app (a real preflight goes over a socket, as a browser's does). */
async function serve(corsOrigins: string[], apiKeys: string[] = ['k1']): Promise<string> {
  const { app } = testApp({ cookbook: cookbook([profile('tiny:default')]), apiKeys, over: { corsOrigins } })
  apps.push(app)
  return app.listen({ host: '127.0.0.1', port: 0 })
}

function preflight(base: string, origin: string): Promise<Response> {
  return fetch(`${base}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  })
}

describe('CORS (http.cors_origins)', () => {
  it('answers a preflight from an allowed origin without a key, and allows the auth and content headers', async () => {
    const base = await serve([ALLOWED])
    const res = await preflight(base, ALLOWED)
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    expect(res.headers.get('access-control-allow-methods')).toContain('POST')
    expect(res.headers.get('access-control-allow-headers')).toContain('authorization')
    expect(await res.text()).toBe('')
  })

  it('still needs the key on the real request from an allowed origin, and lets the page read the answer either way', async () => {
    const base = await serve([ALLOWED])
    const denied = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { origin: ALLOWED, 'content-type': 'application/json' }, body })
    expect(denied.status).toBe(401)
    expect(denied.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    const ok = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { origin: ALLOWED, 'content-type': 'application/json', authorization: 'Bearer k1' },
      body,
    })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-herd-node')
  })

  it("refuses requests from other origins with 403 origin_not_allowed, even a keyless node's simple POST", async () => {
    const base = await serve([ALLOWED], [])
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body })
    expect(res.status).toBe(403)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(await res.json()).toMatchObject({ error: { code: 'origin_not_allowed', type: 'permission_error' } })
    expect((await preflight(base, 'https://evil.example')).headers.get('access-control-allow-origin')).toBeNull()
  })

  it('allows no origin by default: no CORS headers, no preflight route, cross-site requests refused', async () => {
    const base = await serve([], [])
    const res = await preflight(base, ALLOWED)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(res.status).toBe(403)
    const post = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { origin: ALLOWED }, body })
    expect(post.status).toBe(403)
    // Clients that send no Origin (SDKs, curl) and the node's own pages are not browsers on other sites.
    expect((await fetch(`${base}/v1/chat/completions`, { method: 'POST', body })).status).toBe(200)
    expect((await fetch(`${base}/v1/models`, { headers: { origin: base } })).status).toBe(200)
  })

  it("with ['*'] any origin may call it, and the preflight is the only route open without a key", async () => {
    const { app } = testApp({ cookbook: cookbook([profile('tiny:default')]), apiKeys: ['k1'], over: { corsOrigins: ['*'] } })
    apps.push(app)
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    const res = await preflight(base, 'https://anyone.example')
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    const open = app.routePolicies.filter((p) => p.auth === 'open').map((p) => `${p.method} ${p.url}`)
    expect(open).toContain('OPTIONS *')
    expect(open.filter((r) => r.startsWith('OPTIONS'))).toEqual(['OPTIONS *'])
  })
})
