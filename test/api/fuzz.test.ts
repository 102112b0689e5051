/**
 * Property-based fuzz of the whole HTTP surface through app.inject(): generated methods,
 * paths, headers, bodies and model names against a fake router that answers normally.
 * Whatever comes in, herd never answers 5xx, every non-2xx is the OpenAI envelope with a
 * matching x-herd-error (and herd's headers), and the app keeps answering afterwards.
 * 10,000 cases in all, split over the properties below.
 */
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../src/errors/index.ts'
import { cookbook, profile, testApp } from './helpers.ts'

const KEY = 'fuzz-key'
const book = cookbook(
  [
    profile('tiny:default'),
    profile('org/big:default'),
    profile('embed:default', { capabilities: { completion: false, embeddings: true, rerank: false } }),
    profile('rr:default', { capabilities: { completion: false, embeddings: false, rerank: true } }),
  ],
  'tiny:default',
)

const keyed = testApp({ cookbook: book, apiKeys: [KEY], bodyLimitBytes: 64 * 1024 }).app
const open = testApp({ cookbook: book, bodyLimitBytes: 64 * 1024 }).app
afterAll(async () => {
  await Promise.all([keyed.close(), open.close()])
})
await Promise.all([keyed.ready(), open.ready()])

const ROUTE_PATHS = [...new Set(keyed.routePolicies.map((r) => r.url.replace('*', 'tiny:default')))]
const INFERENCE_PATHS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/rerank', '/v1/reranking', '/rerank']
const METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const

// --- generators ---

/** Any text, now and then a very long one. */
const text = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '%', '%ZZ', '%25', '..', '/', '\\', '\u0000', 'x'.repeat(20_000)) },
)

/** A path character: kept, percent-encoded, or left as a raw (possibly broken) escape. */
const pathPiece = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._~:@!$&'()*+,;=-]{0,12}$/),
  fc.string({ unit: 'binary', maxLength: 6 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom('%', '%Z', '%ZZ', '%2', '%00', '%2F', '%25', '//', '/', '%C0%AF', '%E2%80%AE', 'instance=a&instance=b', 'instance[]=x', '__proto__'),
)

/** Known routes spelled oddly (case, slashes, encoding, query) and paths made up from pieces. */
const path = fc.oneof(
  fc.constantFrom(...ROUTE_PATHS),
  fc.tuple(fc.constantFrom(...ROUTE_PATHS), fc.constantFrom('upper', 'slashes', 'trailing', 'encode', 'query', 'suffix'), pathPiece).map(([p, how, piece]) => {
    switch (how) {
      case 'upper':
        return p.toUpperCase()
      case 'slashes':
        return p.replaceAll('/', '//')
      case 'trailing':
        return `${p}/`
      case 'encode':
        return p.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`)
      case 'query':
        return `${p}?${piece}`
      default:
        return `${p}/${piece}`
    }
  }),
  fc.array(pathPiece, { maxLength: 5 }).map((pieces) => `/${pieces.join('/')}`),
)

const headerValue = fc.oneof(
  fc.stringMatching(/^[\x20-\x7e\t]{0,40}$/),
  fc.constantFrom('', ' ', 'application/json', 'gzip', 'br', 'deflate', 'identity', 'zstd', 'gzip, gzip, gzip', 'x'.repeat(8000)),
)

const auth = fc.constantFrom<Record<string, string>>(
  {},
  { authorization: `Bearer ${KEY}` },
  { authorization: 'Bearer wrong' },
  { authorization: 'Bearer' },
  { authorization: `Basic ${KEY}` },
  { 'x-api-key': KEY },
  { 'x-api-key': '' },
)

const headers = fc
  .tuple(
    auth,
    fc.option(fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', ''), { nil: undefined }),
    fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'zstd', 'gzip, br', 'br, br, br', ','), { nil: undefined }),
    fc.dictionary(
      fc.constantFrom('accept', 'x-request-id', 'x-forwarded-for', 'user-agent', 'accept-version', 'traceparent', 'x-custom', 'cookie'),
      headerValue,
      { maxKeys: 3 },
    ),
  )
  .map(([a, type, encoding, extra]) => ({
    ...extra,
    ...a,
    ...(type === undefined ? {} : { 'content-type': type }),
    ...(encoding === undefined ? {} : { 'content-encoding': encoding }),
  }))

/** A model field: a real name, a near miss, or anything JSON can hold. */
const modelField = fc.oneof(
  fc.constantFrom(
    'tiny',
    'tiny:default',
    'tiny:nope',
    'org/big',
    'embed',
    'rr',
    'TINY',
    ' tiny',
    'tiny ',
    ':',
    'tiny:default:x',
    '__proto__',
    'constructor',
    'tiny:__proto__',
    'toString:default',
    'hasOwnProperty',
  ),
  text,
  fc.jsonValue({ maxDepth: 2 }),
)

const jsonBody = fc
  .record(
    {
      model: fc.option(modelField, { nil: undefined }),
      stream: fc.option(fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })), { nil: undefined }),
      messages: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
    },
    { requiredKeys: [] },
  )
  .map((o) => Buffer.from(JSON.stringify(o)))

/** Body bytes: good JSON, almost JSON, any JSON, raw bytes, compressed or not. */
const body = fc.oneof(
  { weight: 4, arbitrary: jsonBody },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: jsonBody.map((b) => b.subarray(0, Math.floor(b.length / 2))) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.from('{"model":"__proto__"}'),
      Buffer.from('{"__proto__":{"model":"tiny"}}'),
      Buffer.from('{"model":"tiny","model":5}'),
      Buffer.alloc(70 * 1024, 0x20),
      Buffer.from('\ufeff{"model":"tiny"}'),
    ),
  },
)

/** The body is sent as is, or gzipped (then its content-encoding says so or lies). */
const payload = fc.tuple(body, fc.constantFrom('plain', 'gzip', 'gzip-truncated')).map(([b, how]) => {
  if (how === 'plain') return { bytes: b, encoding: undefined }
  const z = gzipSync(b)
  return { bytes: how === 'gzip' ? z : z.subarray(0, Math.max(1, z.length - 5)), encoding: 'gzip' }
})

// --- the invariant ---

const KNOWN_CODES = new Set(Object.keys(ERROR_CODES))

function checkAnswer(req: InjectOptions, res: LightMyRequestResponse): void {
  const where = `${String(req.method)} ${String(req.url)} → ${res.statusCode} ${res.body.slice(0, 200)}`
  expect(res.statusCode, where).toBeLessThan(500)
  expect(res.headers['x-herd-node'], where).toBe('node-a')
  expect(res.headers['x-request-id'], where).toBeTruthy()
  if (res.statusCode < 300) return
  const code = res.headers['x-herd-error']
  expect(typeof code === 'string' && KNOWN_CODES.has(code), where).toBe(true)
  if (req.method === 'HEAD') return
  const envelope = JSON.parse(res.body) as { error: Record<string, unknown> }
  expect(Object.keys(envelope), where).toEqual(['error'])
  expect(envelope.error['code'], where).toBe(code)
  expect(typeof envelope.error['message'], where).toBe('string')
  expect((envelope.error['message'] as string).length, where).toBeLessThan(1000)
  expect(typeof envelope.error['type'], where).toBe('string')
  expect(envelope.error['param'] === null || typeof envelope.error['param'] === 'string', where).toBe(true)
}

async function send(app: FastifyInstance, req: InjectOptions): Promise<void> {
  checkAnswer(req, await app.inject(req))
}

/** Which app: one with API keys, one without (a label, so a counterexample prints readably). */
const app = fc.constantFrom('keyed', 'open').map((name) => ({ name, app: name === 'keyed' ? keyed : open, toString: () => name }))

describe('HTTP fuzz', () => {
  it('answers any method, path and headers with a success or an envelope, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(app, fc.constantFrom(...METHODS), path, headers, async (target, method, url, hs) => {
        await send(target.app, { method, url, headers: hs })
      }),
      { numRuns: 3000 },
    )
  })

  it('answers any body on any inference or admin route with a success or an envelope, never 5xx', async () => {
    const route = fc.constantFrom(...INFERENCE_PATHS, '/admin/prewarm', '/admin/unload')
    await fc.assert(
      fc.asyncProperty(app, route, headers, payload, async (target, url, hs, p) => {
        const h = p.encoding === undefined ? hs : { ...hs, 'content-encoding': p.encoding }
        await send(target.app, { method: 'POST', url, headers: h, payload: p.bytes })
      }),
      { numRuns: 4000 },
    )
  })

  it('answers any model name, in a body or in the path, with a success or an envelope, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(app, auth, modelField, fc.constantFrom('chat', 'path', 'prewarm', 'unload'), async (target, a, model, where) => {
        if (where === 'path') {
          const id = typeof model === 'string' ? model : (JSON.stringify(model) ?? '')
          await send(target.app, { method: 'GET', url: `/v1/models/${encodeURIComponent(id)}`, headers: a })
          return
        }
        const url = where === 'chat' ? '/v1/chat/completions' : `/admin/${where}`
        await send(target.app, { method: 'POST', url, headers: { ...a, 'content-type': 'application/json' }, payload: JSON.stringify({ model }) })
      }),
      { numRuns: 3000 },
    )
  })

  it('keeps answering afterwards', async () => {
    for (const target of [keyed, open]) {
      expect((await target.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)
      const res = await target.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        payload: '{"model":"tiny"}',
      })
      expect(res.statusCode).toBe(200)
    }
  })
})
