/** The one error path: bad URLs, long client strings, log levels and the error counters. */
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import { capturingLogger, cookbook, profile, testApp } from './helpers.ts'

const book = cookbook([profile('tiny:default'), profile('org/big:default')], 'tiny:default')

const apps: FastifyInstance[] = []
function make(options: Partial<Parameters<typeof testApp>[0]> = {}) {
  const t = testApp({ cookbook: book, ...options })
  apps.push(t.app)
  return t
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

const chat = (body: unknown) => ({
  method: 'POST' as const,
  url: '/v1/chat/completions',
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(body),
})

function expectEnvelope(
  res: { statusCode: number; headers: Record<string, unknown>; json: () => { error: Record<string, unknown> } },
  status: number,
  code: string,
): void {
  expect(res.statusCode).toBe(status)
  expect(res.json().error).toMatchObject({ code })
  expect(res.headers['x-herd-error']).toBe(code)
  expect(res.headers['x-herd-node']).toBe('node-a')
  expect(res.headers['x-request-id']).toBeTruthy()
}

describe('URLs that do not decode', () => {
  it('answers GET /v1/models/%25 with 404 model_not_found, not 500 (the id is decoded once)', async () => {
    const { app } = make()
    expectEnvelope(await app.inject({ method: 'GET', url: '/v1/models/%25' }), 404, 'model_not_found')
  })

  it('finds a model id with a slash, encoded or not', async () => {
    const { app } = make()
    expect((await app.inject({ method: 'GET', url: '/v1/models/org%2Fbig:default' })).json().id).toBe('org/big:default')
    expect((await app.inject({ method: 'GET', url: '/v1/models/org/big:default' })).json().id).toBe('org/big:default')
  })

  it('answers GET /v1/models/%ZZ in the OpenAI envelope with herd headers', async () => {
    const { app, metrics } = make()
    const res = await app.inject({ method: 'GET', url: '/v1/models/%ZZ', headers: { 'x-request-id': 'bad-url-1' } })
    expectEnvelope(res, 400, 'invalid_request')
    expect(res.headers['x-request-id']).toBe('bad-url-1')
    expect(JSON.stringify(res.json())).not.toContain('FST_')
    expect((await metrics.errors.get()).values).toEqual([expect.objectContaining({ labels: { code: 'invalid_request' }, value: 1 })])
  })
})

describe('requests the HTTP parser refuses', () => {
  async function raw(app: FastifyInstance, bytes: string): Promise<string> {
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    const socket = connect(Number(new URL(address).port), '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.write(bytes)
    await new Promise((resolve) => socket.once('close', resolve))
    return Buffer.concat(chunks).toString('utf8')
  }

  it.each([
    ['a malformed header line', 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'],
    ['headers over the size limit', `GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`],
  ])('answers %s in the envelope with herd headers', async (_name, bytes) => {
    const { app, metrics } = make()
    const answer = await raw(app, bytes)
    const [head = '', body = ''] = answer.split('\r\n\r\n')
    expect(head).toMatch(/^HTTP\/1\.1 400 /)
    expect(head).toMatch(/\r\nx-herd-error: invalid_request\r\n/)
    expect(head).toMatch(/\r\nx-herd-node: node-a\r\n/)
    expect(head).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/)
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'invalid_request', type: 'invalid_request_error', param: null } })
    expect((await metrics.requests.get()).values).toEqual([expect.objectContaining({ labels: { endpoint: 'other', model: '', status: 'error' }, value: 1 })])
  })
})

describe('client strings in errors and logs', () => {
  const huge = 'm'.repeat(900_000)

  it.each([
    ['an unknown model in a chat request', chat({ model: huge })],
    [
      'an unknown model to prewarm',
      { method: 'POST' as const, url: '/admin/prewarm', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ model: huge }) },
    ],
    ['an unknown model id in the path', { method: 'GET' as const, url: `/v1/models/${'m'.repeat(20_000)}` }],
    ['an unknown path', { method: 'GET' as const, url: `/nothing/${'p'.repeat(20_000)}` }],
  ])('cuts %s to a short answer and a short log line', async (_name, request) => {
    const { logger, lines } = capturingLogger()
    const { app } = make({ logger })
    const res = await app.inject(request)
    expect(res.statusCode).toBe(404)
    expect(res.body.length).toBeLessThan(400)
    expect(res.json().error.message).toMatch(/… \(\d+ chars\)/)
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) expect(JSON.stringify(line).length).toBeLessThan(1000)
  })
})

describe('log levels', () => {
  it.each([
    ['queue_full', 'warn'],
    ['queue_timeout', 'warn'],
    ['draining', 'warn'],
    ['no_capacity', 'warn'],
    ['upstream_error', 'warn'],
  ] as const)('logs the expected refusal %s at %s, one line, no stack', async (code, level) => {
    const { logger, lines } = capturingLogger()
    const { app } = make({
      logger,
      route: async () => {
        throw new HerdError(code, `refused: ${code}`, { cause: new Error('because') })
      },
    })
    await app.inject(chat({ model: 'tiny' }))
    const logged = lines.filter((l) => l['code'] === code)
    expect(logged).toHaveLength(1)
    expect(logged[0]?.['level']).toBe(pinoLevel(level))
    expect(JSON.stringify(logged[0])).not.toMatch(/stack|\n {4}at /)
    expect(logged[0]?.['cause']).toBe('because')
  })

  it("logs a routed answer's line at info, and not at all (nothing gathered) when info is off", async () => {
    const { logger, lines } = capturingLogger()
    const { app } = make({ logger })
    const res = await app.inject(chat({ model: 'tiny' }))
    expect(res.statusCode).toBe(200)
    const routed = lines.filter((l) => l['msg'] === 'routed')
    expect(routed).toHaveLength(1)
    expect(routed[0]).toMatchObject({ level: pinoLevel('info'), request_id: res.headers['x-request-id'], status: 200, stream: false })
    logger.level = 'warn'
    expect((await app.inject(chat({ model: 'tiny' }))).statusCode).toBe(200)
    expect(lines.filter((l) => l['msg'] === 'routed')).toHaveLength(1)
  })

  it('logs client errors (4xx) at info without a stack', async () => {
    const { logger, lines } = capturingLogger()
    const { app } = make({ logger })
    await app.inject(chat({ model: 'nope' }))
    const logged = lines.filter((l) => l['code'] === 'model_not_found')
    expect(logged).toHaveLength(1)
    expect(logged[0]?.['level']).toBe(pinoLevel('info'))
    expect(JSON.stringify(logged[0])).not.toContain('stack')
  })

  it('logs a bug (internal) at error with its stack', async () => {
    const { logger, lines } = capturingLogger()
    const { app } = make({
      logger,
      route: async () => {
        throw new TypeError('oops')
      },
    })
    const res = await app.inject(chat({ model: 'tiny' }))
    expect(res.statusCode).toBe(500)
    expect(res.json().error.message).toBe('internal error')
    const logged = lines.filter((l) => l['code'] === 'internal')
    expect(logged).toHaveLength(1)
    expect(logged[0]?.['level']).toBe(pinoLevel('error'))
    expect(JSON.stringify(logged[0])).toContain('TypeError: oops')
    expect(JSON.stringify(logged[0])).toMatch(/stack/)
  })
})

describe('herd_requests_total', () => {
  async function requests(metrics: ReturnType<typeof testApp>['metrics']) {
    return (await metrics.requests.get()).values.map((v) => ({ ...v.labels, value: v.value }))
  }

  it('counts requests refused before routing (404 unknown path, 400 bad JSON, 404 unknown model) as status="error"', async () => {
    const { app, metrics } = make()
    await app.inject({ method: 'GET', url: '/nothing' })
    await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, payload: '{"model":' })
    await app.inject(chat({ model: 'nope' }))
    expect(await requests(metrics)).toEqual(
      expect.arrayContaining([
        { endpoint: 'other', model: '', status: 'error', value: 1 },
        { endpoint: 'chat', model: '', status: 'error', value: 2 },
      ]),
    )
  })

  it('counts a router refusal once, with the model it resolved to', async () => {
    const { app, metrics } = make({
      route: async () => {
        throw new HerdError('queue_full', 'full')
      },
    })
    await app.inject(chat({ model: 'tiny' }))
    expect(await requests(metrics)).toEqual([{ endpoint: 'chat', model: 'tiny:default', status: 'error', value: 1 }])
  })

  it('counts a served request by its status once its body has ended', async () => {
    const { app, metrics } = make()
    await app.inject(chat({ model: 'tiny' }))
    expect(await requests(metrics)).toEqual([{ endpoint: 'chat', model: 'tiny:default', status: '200', value: 1 }])
  })
})

function pinoLevel(name: 'info' | 'warn' | 'error'): number {
  return { info: 30, warn: 40, error: 50 }[name]
}

describe('query strings', () => {
  it('answers 400 invalid_request when /admin/logs gets instance twice', async () => {
    const { app } = make()
    const res = await app.inject({ method: 'GET', url: '/admin/logs?instance=a&instance=b' })
    expectEnvelope(res, 400, 'invalid_request')
    expect(res.json().error.param).toBe('instance')
    expect((await app.inject({ method: 'GET', url: '/admin/logs?instance=a' })).statusCode).toBe(200)
  })
})
