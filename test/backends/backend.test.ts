/**
 * One backend as a router target, against fake servers on real sockets: what goes up
 * (the node's credential, never the client's; the model renamed), what comes back
 * (relayed, streamed, 4xx as is), and every fault ending in a clean, retryable error or
 * an SSE error event within the configured timeouts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { text } from 'node:stream/consumers'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Backends } from '../../src/backends/index.ts'
import type { BackendSpec } from '../../src/config/index.ts'
import { HerdError } from '../../src/errors/index.ts'
import { freePort } from '../helpers/llama-server.ts'
import { waitFor } from '../helpers/poll.ts'
import { fakeAnthropic, fakeOpenAi, type FakeBackend } from '../fixtures/fake-backend.ts'
import { capture, routeRequest, spec } from './helpers.ts'

const KEY = 'sk-node-0123456789abcdef'
let home: string
const running: Backends[] = []
const fakes: FakeBackend[] = []

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'herd-backend-'))
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((b) => b.stop()))
  await Promise.all(fakes.splice(0).map((f) => f.close()))
})
afterAll(() => rm(home, { recursive: true, force: true }))

async function serveWith(s: BackendSpec, log = capture()): Promise<{ backends: Backends; log: ReturnType<typeof capture> }> {
  const backends = new Backends({ logger: log.logger, nodeName: 'node-a' }, { home })
  backends.setConfigured([s])
  await backends.start()
  running.push(backends)
  return { backends, log }
}

async function openai(options: Parameters<typeof fakeOpenAi>[0] = {}): Promise<FakeBackend> {
  const f = await fakeOpenAi({ key: KEY, ...options })
  fakes.push(f)
  return f
}

const failureOf = async (p: Promise<unknown>): Promise<HerdError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof HerdError)) throw new Error(`expected a HerdError, got ${String(err)}`)
  return err
}

describe('a backend', () => {
  it("sends the node's key and its extra headers, never the client's, with the model renamed to the backend's", async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K', headers: { 'OpenAI-Organization': 'org-1' } }, { K: KEY }))
    const res = await backends.serve(
      routeRequest({ headers: { 'content-type': 'application/json', authorization: 'Bearer client-key', 'x-api-key': 'client-key' } }),
    )
    expect(res.status).toBe(200)
    const body = JSON.parse(await text(res.body)) as { model: string }
    // The body is the backend's, model field included.
    expect(body.model).toBe('fake-model')
    expect(res.headers['x-upstream-trace']).toBe('abc')
    expect(res.headers['x-herd-error']).toBeUndefined()
    expect(res.headers['x-herd-node']).toBeUndefined()
    expect(res.headers['user-agent']).toBeUndefined()
    expect(res.servedBy).toBe('node-a')
    const seen = fake.requests.find((r) => r.method === 'POST')
    expect(seen?.path).toBe('/v1/chat/completions')
    expect(seen?.headers['authorization']).toBe(`Bearer ${KEY}`)
    expect(seen?.headers['x-api-key']).toBeUndefined()
    expect(seen?.headers['openai-organization']).toBe('org-1')
    expect(seen?.headers['user-agent']).toMatch(/^herd\//)
    expect(seen?.body?.['model']).toBe('fake-model')
    expect(JSON.stringify(fake.requests)).not.toContain('client-key')
  })

  it('streams an SSE answer through as it comes', async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K' }, { K: KEY }))
    const body = Buffer.from(JSON.stringify({ model: 'be/fake-model', stream: true, messages: [{ role: 'user', content: 'hi' }] }))
    const res = await backends.serve(routeRequest({ body, stream: true }))
    expect(res.headers['content-type']).toContain('text/event-stream')
    const out = await text(res.body)
    expect(out).toContain('"content":"Hello"')
    expect(out.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it("speaks Anthropic's protocol to an anthropic backend: x-api-key and anthropic-version", async () => {
    const fake = await fakeAnthropic({ key: KEY })
    fakes.push(fake)
    const { backends } = await serveWith(
      await spec({ name: 'claude', protocol: 'anthropic', base_url: fake.baseUrl, api_key_env: 'K', models: ['claude-fake'] }, { K: KEY }),
    )
    const body = Buffer.from(JSON.stringify({ model: 'claude/claude-fake', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }))
    const res = await backends.serve(routeRequest({ endpoint: 'messages', path: '/v1/messages', profileId: 'claude/claude-fake', body }))
    expect(res.status).toBe(200)
    expect(JSON.parse(await text(res.body))).toMatchObject({ type: 'message', model: 'claude-fake' })
    const seen = fake.requests.find((r) => r.method === 'POST')
    expect(seen?.headers['x-api-key']).toBe(KEY)
    expect(seen?.headers['anthropic-version']).toBe('2023-06-01')
    expect(seen?.headers['authorization']).toBeUndefined()
  })

  it('refuses an endpoint of the other protocol when given no converter', async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K' }, { K: KEY }))
    const err = await failureOf(backends.serve(routeRequest({ endpoint: 'messages', path: '/v1/messages' })))
    expect(err.code).toBe('unsupported_endpoint')
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(0)
  })

  it("relays another 4xx as it is, with the node's key taken out should the backend echo it", async () => {
    const fake = await openai({ echoKeyOn400: true })
    const log = capture()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K' }, { K: KEY }), log)
    const res = await backends.serve(routeRequest({ body: Buffer.from(JSON.stringify({ model: 'be/fake-model' })) }))
    expect(res.status).toBe(400)
    const body = await text(res.body)
    expect(body).toContain('messages is required')
    expect(body).toContain('[redacted]')
    expect(body).not.toContain(KEY)
    expect(backends.state()[0]?.circuit).toBe('closed')
    expect(log.text()).not.toContain(KEY)
  })

  it('counts 429 as a failed attempt and keeps its circuit open for the Retry-After it sent', async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K' }, { K: KEY }))
    fake.rateLimit(3)
    const err = await failureOf(backends.serve(routeRequest()))
    expect(err.code).toBe('upstream_rate_limited')
    expect(err.status).toBe(429)
    expect(err.retryAfterSeconds).toBe(3)
    expect(backends.state()[0]?.circuit).toBe('open')
    expect(backends.circuits.remainingMs('be')).toBeGreaterThan(2_000)
    // Open: the next request is refused here without reaching the backend.
    const refused = await failureOf(backends.serve(routeRequest()))
    expect(refused.code).toBe('no_route')
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(2)
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(1)
  })

  it('counts 5xx before the first byte as failed attempts, opening the circuit after three, and probes at once', async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K', health_interval_ms: 60_000 }, { K: KEY }))
    await waitFor('the first probe', () => backends.state()[0]?.health === 'up')
    const probes = (): number => fake.requests.filter((r) => r.method === 'GET').length
    const before = probes()
    for (let i = 0; i < 3; i++) {
      fake.fail(503)
      const err = await failureOf(backends.serve(routeRequest()))
      expect(err.code).toBe('upstream_error')
      expect(err.message).toContain('503')
    }
    expect(backends.state()[0]?.circuit).toBe('open')
    await waitFor('a probe after the failures', () => probes() > before)
  })

  it('fails a refused connection quickly, marks the backend down and then refuses without trying', async () => {
    const fake = await openai()
    const { backends, log } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K' }, { K: KEY }))
    await waitFor('up', () => backends.state()[0]?.health === 'up')
    await fake.close()
    fakes.splice(fakes.indexOf(fake), 1)
    const started = Date.now()
    const err = await failureOf(backends.serve(routeRequest()))
    expect(err.code).toBe('upstream_error')
    expect(err.message).toContain('ECONNREFUSED')
    expect(err.message).not.toContain('127.0.0.1')
    expect(Date.now() - started).toBeLessThan(2_000)
    await waitFor('the backend to be down', () => backends.state()[0]?.health === 'down')
    expect(log.text()).toContain('backend is down')
    const down = await failureOf(backends.serve(routeRequest()))
    expect(down.code).toBe('no_route')
    expect(down.message).toContain("backend 'be' is down (ECONNREFUSED)")
  })

  it('is down from the start when nothing listens there', async () => {
    const port = await freePort()
    const { backends } = await serveWith(await spec({ base_url: `http://127.0.0.1:${port}/v1`, api_key_env: 'K' }, { K: KEY }))
    await waitFor('down', () => backends.state()[0]?.health === 'down')
    expect((await failureOf(backends.serve(routeRequest()))).code).toBe('no_route')
  })

  it('gives up on a backend that sends no head within first_byte_ms', async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K', timeouts: { first_byte_ms: 300 } }, { K: KEY }))
    fake.hang()
    const started = Date.now()
    const err = await failureOf(backends.serve(routeRequest()))
    expect(err.code).toBe('upstream_timeout')
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(Date.now() - started).toBeLessThan(3_000)
  })

  it('ends a stream that stalls for idle_ms with an SSE error event, in the route’s error shape', async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K', timeouts: { idle_ms: 300 } }, { K: KEY }))
    fake.stall()
    const body = Buffer.from(JSON.stringify({ model: 'be/fake-model', stream: true, messages: [{ role: 'user', content: 'hi' }] }))
    const started = Date.now()
    const res = await backends.serve(routeRequest({ body, stream: true }))
    const out = await text(res.body)
    expect(out).toContain('"content":"Hello"')
    expect(out).toContain('"code":"upstream_timeout"')
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(backends.state()[0]?.inUse).toBe(0)
  })

  it('ends an Anthropic stream that stalls with event: error', async () => {
    const fake = await fakeAnthropic({ key: KEY })
    fakes.push(fake)
    const { backends } = await serveWith(
      await spec(
        { name: 'claude', protocol: 'anthropic', base_url: fake.baseUrl, api_key_env: 'K', models: ['claude-fake'], timeouts: { idle_ms: 300 } },
        { K: KEY },
      ),
    )
    fake.stall()
    const body = Buffer.from(JSON.stringify({ model: 'claude/claude-fake', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'hi' }] }))
    const res = await backends.serve(
      routeRequest({ endpoint: 'messages', path: '/v1/messages', profileId: 'claude/claude-fake', body, stream: true, errorShape: 'anthropic' }),
    )
    const out = await text(res.body)
    expect(out).toContain('event: message_start')
    expect(out).toMatch(/event: error\ndata: \{"type":"error","error":\{"type":"api_error"/)
  })

  it('treats garbage on the socket as a failed attempt', async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K' }, { K: KEY }))
    fake.garbage()
    const err = await failureOf(backends.serve(routeRequest()))
    expect(err.code).toBe('upstream_error')
  })

  it('holds max_concurrency with a FIFO queue: queue_full beyond max_queue_size, queue_timeout past the wait', async () => {
    const fake = await openai()
    const { backends } = await serveWith(
      await spec({ base_url: fake.baseUrl, api_key_env: 'K', max_concurrency: 1, max_queue_size: 1, max_wait_in_queue_ms: 300 }, { K: KEY }),
    )
    fake.hang()
    const first = new AbortController()
    const hanging = backends.serve(routeRequest({ signal: first.signal })).catch((e: unknown) => e)
    await waitFor('the first request upstream', () => backends.state()[0]?.inUse === 1)
    const queued = failureOf(backends.serve(routeRequest()))
    await waitFor('one waiting', () => backends.state()[0]?.queueLength === 1)
    const full = await failureOf(backends.serve(routeRequest()))
    expect(full.code).toBe('queue_full')
    expect((await queued).code).toBe('queue_timeout')
    first.abort(new Error('client left'))
    await hanging
    await waitFor('the slot back', () => backends.state()[0]?.inUse === 0)
    // Our own client leaving says nothing about the backend.
    expect(backends.state()[0]?.circuit).toBe('closed')
  })

  it('aborts the upstream request when the client leaves mid-stream, and frees the slot', async () => {
    const fake = await openai()
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K' }, { K: KEY }))
    fake.stall()
    const body = Buffer.from(JSON.stringify({ model: 'be/fake-model', stream: true, messages: [{ role: 'user', content: 'hi' }] }))
    const res = await backends.serve(routeRequest({ body, stream: true }))
    expect(backends.state()[0]?.inUse).toBe(1)
    res.body.destroy()
    await waitFor('the slot back', () => backends.state()[0]?.inUse === 0)
  })
})

describe('health and discovery', () => {
  it('lists discovered models as backend/model and marks the backend up', async () => {
    const fake = await openai({ models: ['qwen2.5-72b', 'llama3.2:1b', 'bad name with spaces'] })
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K', models: [], discover: true }, { K: KEY }))
    await waitFor('discovery', () => backends.state()[0]?.models.length === 2)
    expect(backends.state()[0]?.models.map((m) => m.id)).toEqual(['be/qwen2.5-72b', 'be/llama3.2:1b'])
    expect(backends.state()[0]?.health).toBe('up')
    expect(backends.find('be/llama3.2:1b')?.name).toBe('be')
    expect(fake.requests[0]?.headers['authorization']).toBe(`Bearer ${KEY}`)
  })

  it("falls back to Ollama's /api/tags when {base_url}/models is missing", async () => {
    const fake = await openai({ key: undefined, models: ['llama3.2:1b'], ollama: true, v1Models: false })
    const { backends } = await serveWith(await spec({ name: 'ollama', base_url: fake.baseUrl, models: [], discover: true }))
    await waitFor('discovery', () => backends.state()[0]?.models.length === 1)
    expect(backends.state()[0]?.models[0]?.id).toBe('ollama/llama3.2:1b')
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/models', '/api/tags'])
  })

  it("is down while the backend refuses the node's credential, and up once it takes it", async () => {
    const fake = await openai({ key: 'another-key' })
    const { backends, log } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K', health_interval_ms: 100 }, { K: KEY }))
    await waitFor('down', () => backends.state()[0]?.health === 'down')
    expect(log.text()).toContain("refused herd's credential (401)")
    expect(log.text()).not.toContain(KEY)
  })

  it('probes again soon after it went down, and comes back up', async () => {
    const fake = await openai()
    fake.probesFail(true)
    fake.fail(500)
    const { backends } = await serveWith(await spec({ base_url: fake.baseUrl, api_key_env: 'K', health_interval_ms: 60_000 }, { K: KEY }))
    await waitFor('down', () => backends.state()[0]?.health === 'down')
    fake.probesFail(false)
    // The retry after 1 s, not the 60 s interval.
    await waitFor('up again', () => backends.state()[0]?.health === 'up', { timeoutMs: 3_000 })
  })
})
