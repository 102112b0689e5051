/**
 * Loading status for streaming clients: a `stream: true` request that waits for its answer
 * longer than `loading.afterMs` gets the 200 event-stream head and SSE comment lines saying
 * what it waits on; the answer follows in the same stream, a failure ends it with an SSE
 * error event in the route's shape. Requests answered at once, and non-streaming ones,
 * are not touched.
 */
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { request as undiciRequest } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import { describe as describeWait } from '../../src/api/loading.ts'
import type { RouteRequest, UpstreamResponse, WaitState } from '../../src/router/types.ts'
import { waitFor } from '../instances/helpers.ts'
import { cookbook, json, profile, sse, testApp } from './helpers.ts'

const book = cookbook([profile('m:default')], 'm:default')
const FAST = { loading: { afterMs: 10, everyMs: 10 } }

const apps: FastifyInstance[] = []
function make(route: (req: RouteRequest) => Promise<UpstreamResponse>) {
  const t = testApp({ cookbook: book, route, over: FAST })
  apps.push(t.app)
  return t
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

/** Report `status` through the request's onWaiting, and resolve once the api has read it `n` times (one comment per read). */
function commentsShown(req: RouteRequest, n: number, status: WaitState & { node: string }): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>()
  let reads = 0
  expect(req.onWaiting, 'a streaming request carries onWaiting').toBeTypeOf('function')
  req.onWaiting?.(() => {
    if (++reads === n) setImmediate(resolve)
    return { model: req.profileId, ...status }
  })
  return promise
}

const chat = (stream: boolean, url = '/v1/chat/completions') => ({
  method: 'POST' as const,
  url,
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] }),
})

const comments = (payload: string): string[] => payload.split('\n').filter((l) => l.startsWith(':'))

describe('a streaming request that waits', () => {
  it('gets the event-stream head and comment lines, then the answer in the same stream', async () => {
    const { app } = make(async (req) => {
      await commentsShown(req, 2, { kind: 'loading', node: 'gpu-box-2' })
      return sse(['{"n":1}', '[DONE]'])
    })
    const res = await app.inject(chat(true))
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/event-stream')
    expect(res.headers['x-herd-node']).toBe('gpu-box-2')
    const lines = comments(res.payload)
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const line of lines) expect(line).toMatch(/^: herd: loading m:default on gpu-box-2 \(\d+\.\d s\)$/)
    // Comments first, each its own block; then the answer, byte for byte.
    expect(res.payload).toMatch(/^(: herd: [^\n]+\n\n)+data: \{"n":1\}\n\ndata: \[DONE\]\n\n$/)
  })

  it('says how many are ahead in a queue', async () => {
    const { app } = make(async (req) => {
      await commentsShown(req, 1, { kind: 'queued', ahead: 3, node: 'node-a' })
      return sse(['[DONE]'])
    })
    const res = await app.inject(chat(true))
    expect(comments(res.payload)[0]).toMatch(/^: herd: queued for m:default on node-a, 3 ahead \(\d+\.\d s\)$/)
  })

  it('ends with an OpenAI error event when the request fails after the comments', async () => {
    const { app, metrics } = make(async (req) => {
      await commentsShown(req, 2, { kind: 'loading', node: 'node-a' })
      throw new HerdError('spawn_failed', "llama-server for 'm:default' failed to start")
    })
    const res = await app.inject(chat(true))
    expect(res.statusCode).toBe(200)
    expect(comments(res.payload).length).toBeGreaterThanOrEqual(2)
    const last = res.payload.split('\n\n').filter(Boolean).at(-1)
    expect(JSON.parse(last!.replace(/^data: /, ''))).toEqual({
      error: { message: "llama-server for 'm:default' failed to start", type: 'server_error', param: null, code: 'spawn_failed' },
    })
    expect(await metrics.registry.getSingleMetricAsString('herd_errors_total')).toContain('code="spawn_failed"} 1')
  })

  it("ends with Anthropic's event: error on /v1/messages", async () => {
    const { app } = make(async (req) => {
      await commentsShown(req, 1, { kind: 'loading', node: 'node-a' })
      throw new HerdError('queue_timeout', 'waited too long')
    })
    const res = await app.inject(chat(true, '/v1/messages'))
    expect(res.statusCode).toBe(200)
    expect(res.payload).toMatch(/^: herd: loading m:default on node-a/)
    expect(res.payload.endsWith('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"waited too long"}}\n\n')).toBe(true)
  })

  it("relays llama-server's own error answer as the error event", async () => {
    const { app } = make(async (req) => {
      await commentsShown(req, 1, { kind: 'loading', node: 'node-a' })
      return json({ error: { code: 400, message: 'the prompt is too long', type: 'invalid_request_error' } }, 400)
    })
    const res = await app.inject(chat(true))
    expect(res.statusCode).toBe(200)
    expect(res.payload).toMatch(/\ndata: \{"error":\{"code":400,"message":"the prompt is too long","type":"invalid_request_error"\}\}\n\n$/)
  })

  it('keeps names from breaking out of the comment line', async () => {
    const { app } = make(async (req) => {
      await commentsShown(req, 1, { kind: 'loading', node: 'evil\n\ndata: {"injected":true}' })
      return sse(['[DONE]'])
    })
    const res = await app.inject(chat(true))
    expect(res.payload).not.toContain('\ndata: {"injected"')
    expect(comments(res.payload)[0]).toContain('evil??data: {"injected":true}')
  })

  it('aborts the wait when the client disconnects after the first comment', async () => {
    let seen: RouteRequest | undefined
    const { app } = make(async (req) => {
      seen = req
      await commentsShown(req, 1, { kind: 'loading', node: 'node-a' })
      // Wait for ever, until the client leaves.
      await new Promise((_, reject) => req.signal.addEventListener('abort', () => reject(req.signal.reason as Error), { once: true }))
      throw new Error('unreachable')
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    const ac = new AbortController()
    const res = await undiciRequest(`http://127.0.0.1:${port}/v1/chat/completions`, { ...chat(true), body: chat(true).payload, signal: ac.signal })
    expect(res.statusCode).toBe(200)
    for await (const chunk of res.body) {
      expect(String(chunk)).toMatch(/^: herd: loading/)
      break
    }
    ac.abort()
    await waitFor(() => seen?.signal.aborted === true, 2_000, 'the route signal to abort')
  })
})

describe('requests that do not wait, or do not stream', () => {
  it('an answer that comes at once has no comments and keeps its own head', async () => {
    const { app } = testApp({ cookbook: book, route: async () => sse(['[DONE]']) })
    apps.push(app)
    const res = await app.inject(chat(true))
    expect(res.payload).toBe('data: [DONE]\n\n')
    expect(res.headers['x-herd-node']).toBe('node-a')
  })

  it('a non-streaming request is not told anything and keeps its error status', async () => {
    const { app, seen } = make(async () => {
      throw new HerdError('spawn_failed', 'no')
    })
    const res = await app.inject(chat(false))
    expect(seen[0]?.onWaiting).toBeUndefined()
    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toContain('application/json')
  })

  it('a streaming embeddings request is not an event stream, so it gets no comments either', async () => {
    const { app, seen } = make(async () => json({ data: [] }))
    await app.inject({ ...chat(true, '/v1/embeddings'), payload: JSON.stringify({ model: 'm', stream: true, input: 'x' }) })
    expect(seen[0]?.onWaiting).toBeUndefined()
  })
})

describe('the comment text', () => {
  it('reads as a sentence for each kind of wait', () => {
    expect(describeWait({ kind: 'loading', model: 'qwen:default', node: 'gpu-box-2' }, 'qwen:default', 4100)).toBe('loading qwen:default on gpu-box-2 (4.1 s)')
    expect(describeWait({ kind: 'queued', ahead: 0, model: 'q:x', node: 'n' }, 'q:x', 2000)).toBe('queued for q:x on n, next in line (2.0 s)')
    expect(describeWait({ kind: 'waiting', model: 'q:x', node: 'n' }, 'q:x', 1000)).toBe('waiting for q:x on n (1.0 s)')
    expect(describeWait(undefined, 'q:x', 1000)).toBe('waiting for q:x (1.0 s)')
  })
})
