/** The dashboard's shell and assets: open, fixed files only, a strict content policy, and same-origin calls pass the CORS rule. */
import { afterAll, describe, expect, it } from 'vitest'
import { UI_ASSETS } from '../../src/ui/index.ts'
import { cookbook, profile, testApp } from '../api/helpers.ts'

const { app } = testApp({ cookbook: cookbook([profile('tiny:default')], 'tiny:default'), apiKeys: ['k'] })
afterAll(() => app.close())

describe('the dashboard routes', () => {
  it('serves the page shell at / without a key, holding no data, under a policy that loads nothing from elsewhere', async () => {
    const res = await app.inject({ method: 'GET', url: '/' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/html/)
    expect(res.body).toContain('<script src="/ui/app.js"')
    expect(res.body).not.toMatch(/https?:\/\//)
    const csp = String(res.headers['content-security-policy'])
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(res.headers['x-frame-options']).toBe('DENY')
  })

  it.each(Object.entries(UI_ASSETS))('serves /ui/%s as %s', async (name, type) => {
    const res = await app.inject({ method: 'GET', url: `/ui/${name}` })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe(type)
    expect(res.body.length).toBeGreaterThan(100)
    expect(res.body).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
  })

  it('serves nothing else from disk', async () => {
    for (const url of ['/ui/index.html', '/ui/..%2F..%2Fpackage.json', '/ui/%2e%2e%2froutes.ts', '/ui/routes.ts']) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.statusCode, url).toBe(404)
    }
  })

  it("lets the page's own same-origin calls through and refuses a foreign Origin", async () => {
    const headers = { host: 'node.lan:8080', authorization: 'Bearer k' }
    const same = await app.inject({ method: 'GET', url: '/cluster/nodes', headers: { ...headers, origin: 'http://node.lan:8080' } })
    expect(same.statusCode).toBe(200)
    const foreign = await app.inject({ method: 'GET', url: '/cluster/nodes', headers: { ...headers, origin: 'http://evil.example' } })
    expect(foreign.statusCode).toBe(403)
    expect(foreign.json().error.code).toBe('origin_not_allowed')
  })
})
