/** Compressed request bodies: decoded within the body limit, or refused by name. */
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { cookbook, profile, testApp } from './helpers.ts'

const book = cookbook([profile('tiny:default')], 'tiny:default')
const body = Buffer.from(JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }] }))

const apps: FastifyInstance[] = []
function make(options: Partial<Parameters<typeof testApp>[0]> = {}) {
  const t = testApp({ cookbook: book, ...options })
  apps.push(t.app)
  return t
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

const post = (payload: Buffer, encoding: string, headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url: '/v1/chat/completions',
  headers: { 'content-type': 'application/json', 'content-encoding': encoding, ...headers },
  payload,
})

describe('Content-Encoding of request bodies', () => {
  it.each([
    ['gzip', gzipSync(body)],
    ['x-gzip', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['deflate', deflateRawSync(body)],
    ['br', brotliCompressSync(body)],
    ['GZip', gzipSync(body)],
    ['identity', body],
    ['gzip, br', brotliCompressSync(gzipSync(body))],
  ])('decodes %s and routes the decoded JSON', async (encoding, payload) => {
    const { app, seen } = make()
    const res = await app.inject(post(payload, encoding))
    expect(res.statusCode).toBe(200)
    expect(seen[0]?.profileId).toBe('tiny:default')
    expect(seen[0]?.body.equals(body)).toBe(true)
  })

  it('answers 413 body_too_large for a zip bomb: small on the wire, over the limit decoded', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20))
    const { app, seen } = make({ bodyLimitBytes: 1024 * 1024 })
    expect(bomb.length).toBeLessThan(1024 * 1024)
    const res = await app.inject(post(bomb, 'gzip'))
    expect(res.statusCode).toBe(413)
    expect(res.json().error.code).toBe('body_too_large')
    expect(seen).toHaveLength(0)
  })

  it.each(['zstd', 'compress', 'gzip, evil'])('answers 415 unsupported_media_type naming %s', async (encoding) => {
    const { app } = make()
    const res = await app.inject(post(body, encoding))
    expect(res.statusCode).toBe(415)
    expect(res.headers['x-herd-error']).toBe('unsupported_media_type')
    expect(res.json().error).toMatchObject({ code: 'unsupported_media_type', type: 'invalid_request_error' })
    expect(res.json().error.message).toContain(encoding.split(', ').at(-1))
  })

  it('answers 415 for more stacked encodings than any client sends', async () => {
    const { app } = make()
    const res = await app.inject(post(gzipSync(gzipSync(gzipSync(body))), 'gzip, gzip, gzip'))
    expect(res.statusCode).toBe(415)
  })

  it('answers 400 invalid_request for a body that is not what its encoding says', async () => {
    const { app } = make()
    const res = await app.inject(post(body, 'gzip'))
    expect(res.statusCode).toBe(400)
    expect(res.json().error.code).toBe('invalid_request')
    expect(res.json().error.message).toContain('gzip')
  })

  it('refuses an unauthenticated compressed body with 401 before decoding it', async () => {
    const { app } = make({ apiKeys: ['k'] })
    const res = await app.inject(post(gzipSync(Buffer.alloc(64 * 1024 * 1024)), 'gzip'))
    expect(res.statusCode).toBe(401)
  })

  it('decodes admin bodies too', async () => {
    const { app } = make()
    const res = await app.inject({
      method: 'POST',
      url: '/admin/prewarm',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync('{"model":"tiny"}'),
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ model: 'tiny:default', status: 'ready' })
  })
})
