import { once } from 'node:events'
import { PassThrough, Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { afterEach, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import type { ForwardRequest } from '../../src/mesh/index.ts'
import { Nodes, holdsFor, peerIds, waitFor, type TestNode, type TestNodeOptions } from './helpers.ts'

function request(overrides: Partial<ForwardRequest> = {}): ForwardRequest {
  return {
    requestId: 'req-1',
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json' },
    hops: 1,
    body: Buffer.from('{"model":"tiny","stream":false}'),
    ...overrides,
  }
}

/** Reads the next chunk of `body`, or fails after `timeoutMs`. */
async function nextChunk(body: Readable, timeoutMs = 2000): Promise<string> {
  const chunk: unknown = body.read()
  if (chunk !== null) return Buffer.from(chunk as Buffer).toString('utf8')
  await Promise.race([once(body, 'readable'), new Promise((_, reject) => setTimeout(() => reject(new Error('no chunk in time')), timeoutMs))])
  return nextChunk(body, timeoutMs)
}

describe('mesh forward over loopback', () => {
  const nodes = new Nodes()
  afterEach(() => nodes.stopAll())

  async function pair(serverOpts: TestNodeOptions = {}, clientOpts: TestNodeOptions = {}): Promise<{ a: TestNode; b: TestNode }> {
    const b = await nodes.start({ name: 'b', ...serverOpts })
    const a = await nodes.start({ name: 'a', peers: [b.mesh.addresses()[0]!], ...clientOpts })
    await waitFor('a to see b', () => peerIds(a).includes(b.mesh.peerId))
    return { a, b }
  }

  it('forwards a non-streaming request and returns the head, then the body', async () => {
    const seen: ForwardRequest[] = []
    const { a, b } = await pair({
      onForward: async (req) => {
        seen.push(req)
        return {
          status: 201,
          headers: { 'content-type': 'application/json', 'x-extra': 'yes' },
          servedBy: 'b',
          body: Readable.from([Buffer.from('{"ok":true}')]),
        }
      },
    })
    const res = await a.mesh.forward(b.mesh.peerId, request({ headers: { 'content-type': 'application/json', traceparent: 't' } }), {
      signal: AbortSignal.timeout(5000),
    })
    expect(res).toMatchObject({ status: 201, servedBy: 'b', headers: { 'x-extra': 'yes' } })
    expect(await text(res.body)).toBe('{"ok":true}')
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ requestId: 'req-1', method: 'POST', path: '/v1/chat/completions', hops: 1, headers: { traceparent: 't' } })
    expect(seen[0]!.body.toString()).toBe('{"model":"tiny","stream":false}')
  })

  it('streams the response chunk by chunk as the peer produces it', async () => {
    const upstream = new PassThrough()
    const { a, b } = await pair({ onForward: async () => ({ status: 200, headers: { 'content-type': 'text/event-stream' }, servedBy: 'b', body: upstream }) })
    const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(10_000) })
    // Each chunk must reach the client before the next one even exists upstream.
    for (const token of ['data: one\n\n', 'data: two\n\n', 'data: three\n\n']) {
      upstream.write(token)
      expect(await nextChunk(res.body)).toBe(token)
    }
    upstream.end()
    await once(res.body.resume(), 'end')
  })

  it('carries request and response bodies larger than one frame intact', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251
    const { a, b } = await pair({
      onForward: async (req) => ({ status: 200, headers: {}, servedBy: 'b', body: Readable.from([req.body, req.body]) }),
    })
    const res = await a.mesh.forward(b.mesh.peerId, request({ body: big }), { signal: AbortSignal.timeout(20_000) })
    const chunks: Buffer[] = []
    for await (const c of res.body) chunks.push(c as Buffer)
    const all = Buffer.concat(chunks)
    expect(all.length).toBe(big.length * 2)
    expect(all.subarray(0, big.length).equals(big)).toBe(true)
    expect(all.subarray(big.length).equals(big)).toBe(true)
  })

  it('does not buffer a body the caller is not reading: the peer is slowed down instead', async () => {
    let produced = 0
    const chunk = Buffer.alloc(64 * 1024, 1)
    const upstream = new Readable({
      read() {
        produced += chunk.length
        this.push(produced > 64 * 1024 * 1024 ? null : chunk)
      },
    })
    const { a, b } = await pair({ onForward: async () => ({ status: 200, headers: {}, servedBy: 'b', body: upstream }) })
    const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(20_000) })
    await waitFor('the peer to start producing', () => produced > 0)
    // Nobody reads res.body: production must stall at a few windows' worth, far below the 64 MiB on offer.
    let last = -1
    await waitFor(
      'production to stall',
      () => {
        const stalled = produced === last
        last = produced
        return stalled
      },
      5000,
      200,
    )
    if (process.env.HERD_TEST_VERBOSE) process.stderr.write(`stalled after ${produced} bytes\n`)
    // Bounded by: the client's reader mark and Readable buffer, a paused stream window (1 MiB),
    // and the server's socket and Readable buffers.
    expect(produced).toBeLessThan(4 * 1024 * 1024)
    // Reading again resumes the flow.
    const before = produced
    let got = 0
    for await (const c of res.body) {
      got += (c as Buffer).length
      if (got > 2 * before) break
    }
    expect(produced).toBeGreaterThan(before)
    res.body.destroy()
  })

  it("aborting the caller's signal aborts the handler's signal on the peer", async () => {
    let handlerSignal: AbortSignal | undefined
    const upstream = new PassThrough()
    const { a, b } = await pair({
      onForward: async (_req, { signal }) => {
        handlerSignal = signal
        return { status: 200, headers: {}, servedBy: 'b', body: upstream }
      },
    })
    const controller = new AbortController()
    const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: controller.signal })
    upstream.write('first')
    expect(await nextChunk(res.body)).toBe('first')
    const bodyError = once(res.body, 'error')
    controller.abort()
    const [err] = await bodyError
    expect((err as Error).name).toBe('AbortError')
    await waitFor('the peer handler to be aborted', () => handlerSignal?.aborted, 2000)
    await waitFor('the upstream body to be destroyed', () => upstream.destroyed, 2000)
    expect(res.body.destroyed).toBe(true)
  })

  it('aborting before the response head rejects at once and aborts the handler', async () => {
    let handlerSignal: AbortSignal | undefined
    const { a, b } = await pair({
      onForward: (_req, { signal }) => {
        handlerSignal = signal
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
      },
    })
    const controller = new AbortController()
    const pending = a.mesh.forward(b.mesh.peerId, request(), { signal: controller.signal })
    await waitFor('the handler to be called', () => handlerSignal)
    controller.abort(new Error('client went away'))
    await expect(pending).rejects.toThrow('client went away')
    await waitFor('the peer handler to be aborted', () => handlerSignal?.aborted, 2000)
  })

  it('ends the body with an error within peerTimeoutMs when the peer stops mid-stream', async () => {
    const upstream = new PassThrough()
    const { a, b } = await pair({ onForward: async () => ({ status: 200, headers: {}, servedBy: 'b', body: upstream }) }, { peerTimeoutMs: 5000 })
    const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(10_000) })
    upstream.write('partial')
    expect(await nextChunk(res.body)).toBe('partial')
    const errored = once(res.body, 'error')
    const t0 = Date.now()
    void b.mesh.stop()
    const [err] = await errored
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(err).toBeInstanceOf(HerdError)
    expect((err as HerdError).code).toBe('peer_unavailable')
    expect((err as HerdError).message).toContain(b.mesh.peerId)
  })

  it('errors the body of a peer that goes silent, after peerTimeoutMs', async () => {
    // The server's keep-alives come every 10 s; the client gives up after 300 ms of silence.
    const upstream = new PassThrough()
    const { a, b } = await pair(
      { peerTimeoutMs: 30_000, onForward: async () => ({ status: 200, headers: {}, servedBy: 'b', body: upstream }) },
      { peerTimeoutMs: 300 },
    )
    const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(10_000) })
    const t0 = Date.now()
    res.body.resume()
    const [err] = await once(res.body, 'error')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect((err as HerdError).message).toMatch(/sent nothing for 300 ms/)
    await waitFor('the peer to see the stream reset', () => upstream.destroyed, 2000)
  })

  it('keeps a slow peer alive with keep-alives while the response head is pending', async () => {
    let release: (() => void) | undefined
    const { a, b } = await pair(
      {
        peerTimeoutMs: 900,
        onForward: async () => {
          await new Promise<void>((resolve) => {
            release = resolve
          })
          return { status: 200, headers: {}, servedBy: 'b', body: Readable.from(['late']) }
        },
      },
      { peerTimeoutMs: 900 },
    )
    const pending = a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(10_000) })
    let settled = false
    void pending.then(
      () => {
        settled = true
      },
      () => {
        settled = true
      },
    )
    await waitFor('the handler to be called', () => release)
    // Three silence windows pass without an answer; keep-alives keep the request alive.
    await holdsFor('the request to stay pending', () => !settled, 3000)
    release!()
    expect(await text((await pending).body)).toBe('late')
  })

  it('carries what the request waits on in keep-alives before the head', async () => {
    let ahead = 3
    const heard: unknown[] = []
    const { promise: twoHeard, resolve } = Promise.withResolvers<void>()
    const { a, b } = await pair({
      onForward: async (_req, options) => {
        options.onWaiting?.(() => ({ kind: 'queued', ahead: ahead--, model: 'not sent', node: 'not sent' }) as never)
        await twoHeard
        return { status: 200, headers: {}, servedBy: 'b', body: Readable.from(['done']) }
      },
    })
    const res = await a.mesh.forward(b.mesh.peerId, request(), {
      signal: AbortSignal.timeout(10_000),
      onWaiting: (state) => {
        heard.push(state)
        if (heard.length === 2) resolve()
      },
    })
    expect(await text(res.body)).toBe('done')
    // Only the kind and the count travel; names come from the asking node's own view.
    expect(heard).toEqual([
      { kind: 'queued', ahead: 3 },
      { kind: 'queued', ahead: 2 },
    ])
  })

  it('rejects with the peer error code when the handler fails before the head, and reuses the stream', async () => {
    let calls = 0
    const { a, b } = await pair({
      onForward: async () => {
        calls += 1
        if (calls === 1) throw new HerdError('queue_full', 'queue for tiny is full', { retryAfterSeconds: 1 })
        if (calls === 2) throw new Error('kaboom')
        return { status: 200, headers: {}, servedBy: 'b', body: Readable.from(['fine']) }
      },
    })
    const signal = AbortSignal.timeout(5000)
    const first = await a.mesh.forward(b.mesh.peerId, request(), { signal }).catch((e: unknown) => e)
    expect(first).toBeInstanceOf(HerdError)
    expect(first).toMatchObject({ code: 'queue_full' })
    expect((first as HerdError).message).toContain(b.mesh.peerId)
    const second = await a.mesh.forward(b.mesh.peerId, request(), { signal }).catch((e: unknown) => e)
    expect(second).toMatchObject({ code: 'upstream_error' })
    expect((second as HerdError).message).toMatch(/kaboom.*on peer/)
    expect(await text((await a.mesh.forward(b.mesh.peerId, request(), { signal })).body)).toBe('fine')
    expect(a.mesh.streamStats().opened).toBe(1)
  })

  it('errors the body with upstream_error when the upstream body fails mid-stream', async () => {
    const upstream = new PassThrough()
    const { a, b } = await pair({ onForward: async () => ({ status: 200, headers: {}, servedBy: 'b', body: upstream }) })
    const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(5000) })
    upstream.write('some')
    expect(await nextChunk(res.body)).toBe('some')
    upstream.destroy(new Error('llama-server crashed'))
    const [err] = await once(res.body, 'error')
    expect(err).toMatchObject({ code: 'upstream_error' })
    expect((err as Error).message).toMatch(/llama-server crashed/)
  })

  describe('with endEventStream (the router asks for it: the relay then needs no guard stream)', () => {
    const sse = { 'content-type': 'text/event-stream' }
    const endEventStream = (err: Error): string => `data: {"error":${JSON.stringify((err as HerdError).code)}}\n\n`

    it('ends an event stream whose peer stops mid-stream with the event it returns, and says the body is guarded', async () => {
      const upstream = new PassThrough()
      const { a, b } = await pair({ onForward: async () => ({ status: 200, headers: sse, servedBy: 'b', body: upstream }) }, { peerTimeoutMs: 5000 })
      const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(10_000), endEventStream })
      expect(res.guarded).toBe(true)
      upstream.write('data: 1\n\n')
      expect(await nextChunk(res.body)).toBe('data: 1\n\n')
      const rest = text(res.body)
      void b.mesh.stop()
      expect(await rest).toBe('data: {"error":"peer_unavailable"}\n\n')
    })

    it('ends an event stream whose upstream fails mid-stream with that event, and reuses the stream', async () => {
      let calls = 0
      const { a, b } = await pair({
        onForward: async () => {
          const upstream = new PassThrough()
          upstream.write('data: 1\n\n')
          if (calls++ === 0) setTimeout(() => upstream.destroy(new Error('llama-server crashed')), 20)
          else upstream.end()
          return { status: 200, headers: sse, servedBy: 'b', body: upstream }
        },
      })
      const signal = AbortSignal.timeout(5000)
      expect(await text((await a.mesh.forward(b.mesh.peerId, request(), { signal, endEventStream })).body)).toBe(
        'data: 1\n\ndata: {"error":"upstream_error"}\n\n',
      )
      expect(await text((await a.mesh.forward(b.mesh.peerId, request(), { signal, endEventStream })).body)).toBe('data: 1\n\n')
      expect(a.mesh.streamStats().opened).toBe(1)
    })

    it("ends an event stream with the event when the caller's signal aborts it, and resets the peer's stream", async () => {
      const upstream = new PassThrough()
      const { a, b } = await pair({ onForward: async () => ({ status: 200, headers: sse, servedBy: 'b', body: upstream }) })
      const controller = new AbortController()
      const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: controller.signal, endEventStream: () => 'data: aborted\n\n' })
      const all = text(res.body)
      controller.abort(new Error('client went away'))
      expect(await all).toBe('data: aborted\n\n')
      await waitFor('the peer to see the stream reset', () => upstream.destroyed, 2000)
    })

    it('still errors a body that is not an event stream', async () => {
      const upstream = new PassThrough()
      const { a, b } = await pair({ onForward: async () => ({ status: 200, headers: {}, servedBy: 'b', body: upstream }) })
      const res = await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(5000), endEventStream })
      expect(res.guarded).toBe(true)
      upstream.write('some')
      expect(await nextChunk(res.body)).toBe('some')
      upstream.destroy(new Error('llama-server crashed'))
      const [err] = await once(res.body, 'error')
      expect(err).toMatchObject({ code: 'upstream_error' })
    })
  })

  it('rejects with peer_unavailable, naming the peer, when it is not connected', async () => {
    const a = await nodes.start({ name: 'a' })
    const ghost = '12D3KooWCTjeiuTGq9E1Ap7CCAkz7YNThV5ynqyjwxTSwifcnUoH'
    const err = await a.mesh.forward(ghost, request(), { signal: AbortSignal.timeout(5000) }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'peer_unavailable' })
    expect((err as Error).message).toContain(ghost)
  })

  it('reuses a few streams for many sequential requests', async () => {
    const { a, b } = await pair()
    for (let i = 0; i < 50; i++) {
      const res = await a.mesh.forward(b.mesh.peerId, request({ requestId: `r${i}`, body: Buffer.from(String(i)) }), { signal: AbortSignal.timeout(5000) })
      expect(JSON.parse(await text(res.body))).toMatchObject({ body: String(i) })
    }
    const stats = a.mesh.streamStats(b.mesh.peerId)
    expect(stats.opened).toBe(1)
    expect(stats.reused).toBe(49)
    expect(stats.idle).toBe(1)
  })

  it('serves concurrent requests on separate streams and keeps at most 32 idle', async () => {
    const { a, b } = await pair()
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const res = await a.mesh.forward(b.mesh.peerId, request({ body: Buffer.from(String(i)) }), { signal: AbortSignal.timeout(10_000) })
        return (JSON.parse(await text(res.body)) as { body: string }).body
      }),
    )
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => String(i)))
    expect(a.mesh.streamStats(b.mesh.peerId).idle).toBeLessThanOrEqual(32)
    expect(a.mesh.streamStats().active).toBe(0)
  })

  it('keeps the streams of 16 requests in flight for the next 16 (no new stream per burst)', async () => {
    const { a, b } = await pair()
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          const res = await a.mesh.forward(b.mesh.peerId, request({ body: Buffer.from(String(i)) }), { signal: AbortSignal.timeout(10_000) })
          return text(res.body)
        }),
      )
    }
    const stats = a.mesh.streamStats(b.mesh.peerId)
    expect(stats.opened).toBe(16)
    expect(stats.reused).toBe(32)
  })
})
