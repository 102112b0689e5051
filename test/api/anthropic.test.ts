/**
 * The Anthropic Messages API's error shape: every herd error on /v1/messages and
 * /v1/messages/count_tokens is `{"type":"error","error":{"type","message"}}` with herd's
 * status and headers, from the auth hook, the body parser, the catalog and the router
 * alike; an SSE stream that breaks after its head ends with Anthropic's `event: error`.
 */
import { PassThrough, Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { HerdError, anthropicErrorType, type ErrorCode, ERROR_CODES } from '../../src/errors/index.ts'
import type { UpstreamResponse } from '../../src/router/types.ts'
import { cookbook, profile, testApp } from './helpers.ts'

const KEY = 'sk-ant-test'
const book = cookbook(
  [profile('tiny:default'), profile('embed:default', { capabilities: { completion: false, embeddings: true, rerank: false } })],
  'tiny:default',
)

const apps: FastifyInstance[] = []
function make(options: Partial<Parameters<typeof testApp>[0]> = {}) {
  const t = testApp({ cookbook: book, ...options })
  apps.push(t.app)
  return t
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

const ANTHROPIC_HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
const messages = (body: unknown, headers: Record<string, string> = {}, url = '/v1/messages') => ({
  method: 'POST' as const,
  url,
  headers: { ...ANTHROPIC_HEADERS, ...headers },
  payload: typeof body === 'string' ? body : JSON.stringify(body),
})

function expectAnthropic(res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, status: number, type: string, code: string): void {
  expect(res.statusCode).toBe(status)
  expect(res.json()).toEqual({ type: 'error', error: { type, message: expect.any(String) } })
  expect(res.headers['x-herd-error']).toBe(code)
  expect(res.headers['x-herd-node']).toBe('node-a')
  expect(res.headers['x-request-id']).toBeTruthy()
}

describe('Anthropic clients', () => {
  it('authenticate with x-api-key or a Bearer token and may send anthropic-version', async () => {
    const { app, seen } = make({ apiKeys: [KEY] })
    expect((await app.inject(messages({ model: 'tiny', messages: [] }, { 'x-api-key': KEY }))).statusCode).toBe(200)
    expect((await app.inject(messages({ model: 'tiny', messages: [] }, { authorization: `Bearer ${KEY}`, 'anthropic-beta': 'x' }))).statusCode).toBe(200)
    expect(seen.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages'])
  })

  it('reach the same routes with the query Claude Code adds (?beta=true)', async () => {
    const { app, seen } = make()
    for (const url of ['/v1/messages?beta=true', '/v1/messages/count_tokens?beta=true'])
      expect((await app.inject(messages({ model: 'tiny', messages: [] }, {}, url))).statusCode, url).toBe(200)
    expect(seen.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages/count_tokens'])
  })

  it.each([
    ['no key', {}],
    ['a wrong x-api-key', { 'x-api-key': 'nope' }],
  ])('get 401 authentication_error in Anthropic shape with %s', async (_name, headers) => {
    const { app } = make({ apiKeys: [KEY] })
    for (const url of ['/v1/messages', '/v1/messages/count_tokens']) {
      const res = await app.inject(messages({ model: 'tiny' }, headers, url))
      expectAnthropic(res, 401, 'authentication_error', 'unauthorized')
    }
  })

  it.each([
    ['an unknown model', { model: 'nope', messages: [] }, 404, 'not_found_error', 'model_not_found'],
    ['an embedding model', { model: 'embed', messages: [] }, 400, 'invalid_request_error', 'unsupported_endpoint'],
    ['malformed JSON', '{"model":', 400, 'invalid_request_error', 'invalid_json'],
    ['a non-boolean stream', { model: 'tiny', stream: 'yes' }, 400, 'invalid_request_error', 'invalid_request'],
  ])('get %s answered in Anthropic shape', async (_name, body, status, type, code) => {
    const { app, seen } = make()
    for (const url of ['/v1/messages', '/v1/messages/count_tokens']) expectAnthropic(await app.inject(messages(body, {}, url)), status, type, code)
    expect(seen).toHaveLength(0)
  })

  it('get 413 request_too_large for a body over the limit', async () => {
    const { app } = make({ bodyLimitBytes: 64 })
    expectAnthropic(
      await app.inject(messages({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(100) }] })),
      413,
      'request_too_large',
      'body_too_large',
    )
  })

  it.each([
    ['queue_full', 503, 'overloaded_error'],
    ['no_route', 503, 'overloaded_error'],
    ['spawn_failed', 503, 'api_error'],
    ['upstream_error', 502, 'api_error'],
    ['upstream_timeout', 504, 'api_error'],
  ] as const)('get a router refusal %s as %i %s, Retry-After kept', async (code, status, type) => {
    const { app } = make({
      route: async () => {
        throw new HerdError(code, `refused: ${code}`, { retryAfterSeconds: 2 })
      },
    })
    const res = await app.inject(messages({ model: 'tiny', messages: [] }))
    expectAnthropic(res, status, type, code)
    expect(res.headers['retry-after']).toBe('2')
    expect((res.json() as { error: { message: string } }).error.message).toBe(`refused: ${code}`)
  })

  it('keep OpenAI routes on the OpenAI envelope', async () => {
    const { app } = make({ apiKeys: [KEY] })
    const res = await app.inject({ method: 'POST', url: '/v1/responses', headers: { 'content-type': 'application/json', 'x-api-key': 'nope' }, payload: '{}' })
    expect(res.json()).toMatchObject({ error: { code: 'unauthorized', type: 'authentication_error' } })
  })

  it('map every herd code to one of Anthropic error types', () => {
    const types = new Set([
      'invalid_request_error',
      'authentication_error',
      'billing_error',
      'permission_error',
      'not_found_error',
      'request_too_large',
      'rate_limit_error',
      'api_error',
      'overloaded_error',
    ])
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) expect(types.has(anthropicErrorType(new HerdError(code, 'x'))), code).toBe(true)
  })
})

describe('streams on the Messages API', () => {
  const EVENTS = [
    'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","content":[]}}\n\n',
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n',
  ]

  /** A peer's stream (not guarded by the local target): events, then a failure. */
  function breaking(): UpstreamResponse {
    const body = new PassThrough()
    for (const e of EVENTS) body.write(e)
    setImmediate(() => body.destroy(new HerdError('upstream_error', 'peer went away')))
    return { status: 200, headers: { 'content-type': 'text/event-stream' }, body, servedBy: 'node-b' }
  }

  it('relays Anthropic named events byte for byte', async () => {
    const done = 'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    const { app } = make({
      route: async () => ({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: Readable.from([...EVENTS, done].map((e) => Buffer.from(e))),
        servedBy: 'node-b',
      }),
    })
    const res = await app.inject(messages({ model: 'tiny', messages: [], stream: true }))
    expect(res.body).toBe([...EVENTS, done].join(''))
    expect(res.headers['x-herd-node']).toBe('node-b')
  })

  it('ends a stream that breaks after its head with an Anthropic error event', async () => {
    const { app } = make({ route: async () => breaking() })
    const res = await app.inject(messages({ model: 'tiny', messages: [], stream: true }))
    expect(res.statusCode).toBe(200)
    expect(res.body).toBe(`${EVENTS.join('')}event: error\ndata: {"type":"error","error":{"type":"api_error","message":"peer went away"}}\n\n`)
  })

  it('ends a broken OpenAI stream with the OpenAI error event, as before', async () => {
    const { app } = make({ route: async () => breaking() })
    const res = await app.inject({
      method: 'POST',
      url: '/v1/responses',
      headers: { 'content-type': 'application/json' },
      payload: '{"model":"tiny","stream":true}',
    })
    expect(res.body.endsWith('data: {"error":{"message":"peer went away","type":"server_error","param":null,"code":"upstream_error"}}\n\n')).toBe(true)
  })
})
