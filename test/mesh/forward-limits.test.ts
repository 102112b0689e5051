/**
 * What a peer holding the secret cannot do to the forward protocol: announce bodies over
 * the limit, use this node as a relay (hops 0), hold half-sent frames open, flood
 * streams, or make it buffer more than its budget. A raw libp2p peer writes the bytes.
 */
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { afterEach, describe, expect, it } from 'vitest'
import { HerdError } from '../../src/errors/index.ts'
import { endSchema, parseFrame } from '../../src/mesh/forward-messages.ts'
import { FrameType, encodeFrame, encodeJsonFrame } from '../../src/mesh/frame.ts'
import type { ForwardHandler, ForwardRequest } from '../../src/mesh/index.ts'
import { RawPeer, headFrame, type RawStream } from './fixtures/raw-peer.ts'
import { Nodes, holdsFor, peerIds, waitFor, type TestNode, type TestNodeOptions } from './helpers.ts'

function request(overrides: Partial<ForwardRequest> = {}): ForwardRequest {
  return { requestId: 'req-1', method: 'POST', path: '/v1/chat/completions', headers: {}, hops: 1, body: Buffer.from('{}'), ...overrides }
}

const ok: ForwardHandler = async (req) => ({ status: 200, headers: {}, servedBy: 'b', body: Readable.from([Buffer.from(`got ${req.body.byteLength}`)]) })

describe('forward limits against a peer holding the secret', () => {
  const nodes = new Nodes()
  const raws: RawPeer[] = []
  afterEach(async () => {
    await Promise.all(raws.splice(0).map((r) => r.stop()))
    await nodes.stopAll()
  })

  /** A node under test and a raw peer connected to it. */
  async function target(opts: TestNodeOptions = {}): Promise<{ b: TestNode; raw: RawPeer; calls: ForwardRequest[] }> {
    const calls: ForwardRequest[] = []
    const handler = opts.onForward ?? ok
    const b = await nodes.start({
      name: 'b',
      ...opts,
      onForward: (req, o) => {
        calls.push(req)
        return handler(req, o)
      },
    })
    const raw = await RawPeer.start(nodes.secret)
    raws.push(raw)
    await raw.connect(b.mesh.addresses()[0]!)
    await waitFor('b to see the raw peer connected', () => b.mesh.connectedPeers().includes(raw.peerId))
    return { b, raw, calls }
  }

  async function endOf(s: RawStream): Promise<unknown> {
    const frame = await s.reader.next({ timeoutMs: 3000 })
    if (frame?.type !== FrameType.End) throw new Error(`expected an end frame, got ${frame?.type}`)
    return parseFrame(frame, endSchema)
  }

  it('answers a head announcing more than the body limit with body_too_large and resets, without calling the handler', async () => {
    const { b, raw, calls } = await target({ maxBodyBytes: 1024 })
    const s = await raw.openForward(b.mesh.peerId)
    s.stream.send(headFrame({ bodyLength: 2048 }))
    expect(await endOf(s)).toMatchObject({ ok: false, code: 'body_too_large' })
    const { error } = await s.closed
    expect(error).toBeDefined()
    expect(calls).toHaveLength(0)
    expect(b.mesh.refusals()).toMatchObject({ body_too_large: 1 })
  })

  it('makes a herd client that sends too large a body fail with body_too_large, not a broken stream', async () => {
    const b = await nodes.start({ name: 'b', maxBodyBytes: 1024 * 1024, onForward: ok })
    const a = await nodes.start({ name: 'a', peers: [b.mesh.addresses()[0]!] })
    await waitFor('a to see b', () => peerIds(a).includes(b.mesh.peerId))
    // Large enough that the refusal arrives while a is still writing the body.
    const err = await a.mesh
      .forward(b.mesh.peerId, request({ body: Buffer.alloc(3 * 1024 * 1024, 120) }), { signal: AbortSignal.timeout(10_000) })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HerdError)
    expect(err).toMatchObject({ code: 'body_too_large' })
    // A small one right after is served.
    expect(await text((await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(5000) })).body)).toBe('got 2')
  })

  it('refuses a forwarded request with hops 0 (no relaying for whoever holds the secret)', async () => {
    const { b, raw, calls } = await target()
    const s = await raw.openForward(b.mesh.peerId)
    s.stream.send(headFrame({ hops: 0 }))
    const { error } = await s.closed
    expect(error).toBeDefined()
    expect(calls).toHaveLength(0)
    expect(b.mesh.refusals()).toMatchObject({ bad_head: 1 })
  })

  it('resets a stream whose first head frame stops half-sent, within peerTimeoutMs', async () => {
    const { b, raw } = await target({ peerTimeoutMs: 500 })
    const s = await raw.openForward(b.mesh.peerId)
    // A header announcing 1,000 payload bytes, and 11 of them: 16 bytes in all.
    const partial = Buffer.alloc(16, 0x20)
    partial.writeUInt8(FrameType.RequestHead, 0)
    partial.writeUInt32BE(1000, 1)
    const t0 = Date.now()
    s.stream.send(partial)
    const { at, error } = await s.closed
    const ms = at - t0
    if (process.env.HERD_TEST_VERBOSE) process.stderr.write(`truncated head refused after ${ms} ms\n`)
    expect(error).toBeDefined()
    expect(ms).toBeGreaterThanOrEqual(400)
    expect(ms).toBeLessThan(1500)
    expect(b.mesh.refusals()).toMatchObject({ frame_timeout: 1 })
  })

  it('lets an idle stream wait between requests for longer than peerTimeoutMs', async () => {
    const { b, raw } = await target({ peerTimeoutMs: 300 })
    const s = await raw.openForward(b.mesh.peerId)
    await holdsFor('the idle stream to stay open', () => s.stream.status === 'open', 800)
    s.stream.send(headFrame())
    const head = await s.reader.next({ timeoutMs: 2000 })
    expect(head?.type).toBe(FrameType.ResponseHead)
  })

  it('refuses a head frame over 64 KiB from its five header bytes, without waiting for the payload', async () => {
    const { b, raw } = await target({ peerTimeoutMs: 5000 })
    const s = await raw.openForward(b.mesh.peerId)
    const header = Buffer.alloc(5)
    header.writeUInt8(FrameType.RequestHead, 0)
    header.writeUInt32BE(512 * 1024, 1)
    const t0 = Date.now()
    s.stream.send(header)
    const { at } = await s.closed
    expect(at - t0).toBeLessThan(1000)
    expect(b.mesh.refusals()).toMatchObject({ frame_too_large: 1 })
  })

  it('resets a stream that sends garbage or a body frame where a head belongs', async () => {
    const { b, raw } = await target()
    const garbage = await raw.openForward(b.mesh.peerId)
    garbage.stream.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
    expect((await garbage.closed).error).toBeDefined()
    const body = await raw.openForward(b.mesh.peerId)
    body.stream.send(encodeFrame(FrameType.Body, Buffer.from('x')))
    expect((await body.closed).error).toBeDefined()
    const badJson = await raw.openForward(b.mesh.peerId)
    badJson.stream.send(encodeFrame(FrameType.RequestHead, Buffer.from('{"requestId":')))
    expect((await badJson.closed).error).toBeDefined()
    expect(b.mesh.refusals()).toMatchObject({ bad_frame: 2, bad_head: 1 })
  })

  it('holds at most maxStreamsPerPeer streams from one peer and resets the rest', async () => {
    const { b, raw } = await target({ maxStreamsPerPeer: 8 })
    // A stream reset before its protocol is agreed fails to open at all: that counts as refused too.
    const opened = await Promise.allSettled(Array.from({ length: 20 }, () => raw.openForward(b.mesh.peerId)))
    const streams = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    let closed = 20 - streams.length
    for (const s of streams)
      void s.closed.then(() => {
        closed += 1
      })
    await waitFor('12 streams to be refused', () => closed >= 12)
    await holdsFor('8 streams to stay open', () => closed === 12, 300)
    expect(b.mesh.refusals()).toMatchObject({ stream_limit: 12 })
    // The held ones still serve.
    const open = streams.find((s) => s.stream.status === 'open')!
    open.stream.send(headFrame())
    expect((await open.reader.next({ timeoutMs: 2000 }))?.type).toBe(FrameType.ResponseHead)
  })

  it('refuses bodies beyond the per-peer buffer budget with queue_full and serves those within it', async () => {
    let release: (() => void) | undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const { b, raw, calls } = await target({
      maxBodyBytes: 1024 * 1024,
      maxBufferedBytesPerPeer: 1024 * 1024,
      onForward: async (req) => {
        await gate
        return ok(req, { signal: AbortSignal.timeout(1000) })
      },
    })
    const size = 600 * 1024
    const send = async (): Promise<RawStream> => {
      const s = await raw.openForward(b.mesh.peerId)
      s.stream.send(headFrame({ bodyLength: size }))
      s.stream.send(encodeFrame(FrameType.Body, Buffer.alloc(size, 1)))
      return s
    }
    const first = await send()
    await waitFor('the first body to reach the handler', () => calls.length === 1)
    const second = await send()
    expect(await endOf(second)).toMatchObject({ ok: false, code: 'queue_full' })
    expect(b.mesh.refusals()).toMatchObject({ buffer_full: 1 })
    release!()
    expect((await first.reader.next({ timeoutMs: 2000 }))?.type).toBe(FrameType.ResponseHead)
    // With the budget back, the next one is taken.
    const third = await send()
    expect((await third.reader.next({ timeoutMs: 2000 }))?.type).toBe(FrameType.ResponseHead)
    expect(calls).toHaveLength(2)
  })

  it('queues a burst at the peer stream cap on the sending side instead of failing it', async () => {
    const b = await nodes.start({
      name: 'b',
      maxStreamsPerPeer: 4,
      onForward: async (req) => {
        await new Promise((resolve) => setTimeout(resolve, 20))
        return ok(req, { signal: AbortSignal.timeout(1000) })
      },
    })
    const a = await nodes.start({ name: 'a', maxStreamsPerPeer: 4, peers: [b.mesh.addresses()[0]!] })
    await waitFor('a to see b', () => peerIds(a).includes(b.mesh.peerId))
    const results = await Promise.all(
      Array.from({ length: 24 }, async () => text((await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(10_000) })).body)),
    )
    expect(results.every((r) => r === 'got 2')).toBe(true)
    expect(b.mesh.refusals()).toEqual({})
  })

  it('fails a peer answer whose frame trickles in without completing, within peerTimeoutMs', async () => {
    const a = await nodes.start({ name: 'a', peerTimeoutMs: 500 })
    const raw = await RawPeer.start(nodes.secret)
    raws.push(raw)
    await raw.connect(a.mesh.addresses()[0]!)
    await waitFor('a to see the raw peer connected', () => a.mesh.connectedPeers().includes(raw.peerId))
    const timers: NodeJS.Timeout[] = []
    raw.serveForward(async (stream) => {
      // A response head announcing 500 bytes, then one byte every 100 ms: never silent, never whole.
      const header = Buffer.alloc(5)
      header.writeUInt8(FrameType.ResponseHead, 0)
      header.writeUInt32BE(500, 1)
      stream.send(header)
      timers.push(
        setInterval(() => {
          if (stream.writeStatus === 'writable') stream.send(Buffer.from(' '))
        }, 100),
      )
    })
    try {
      const t0 = Date.now()
      const err = await a.mesh.forward(raw.peerId, request(), { signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e)
      expect(err, String(err)).toMatchObject({ code: 'upstream_timeout' })
      expect(Date.now() - t0).toBeLessThan(2000)
    } finally {
      for (const t of timers) clearInterval(t)
    }
  })

  it('counts forwarded requests in flight and lets a drain wait for them', async () => {
    let release: (() => void) | undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const b = await nodes.start({
      name: 'b',
      onForward: async (req) => {
        await gate
        return ok(req, { signal: AbortSignal.timeout(1000) })
      },
    })
    const a = await nodes.start({ name: 'a', peers: [b.mesh.addresses()[0]!] })
    await waitFor('a to see b', () => peerIds(a).includes(b.mesh.peerId))
    expect(b.mesh.forwardsInFlight()).toBe(0)
    const pending = a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(10_000) })
    await waitFor('the request to be in flight on b', () => b.mesh.forwardsInFlight() === 1)
    expect(await b.mesh.drainForwards({ signal: AbortSignal.timeout(100) })).toBe(false)
    const drained = b.mesh.drainForwards({ signal: AbortSignal.timeout(5000) })
    release!()
    expect(await text((await pending).body)).toBe('got 2')
    expect(await drained).toBe(true)
    expect(b.mesh.forwardsInFlight()).toBe(0)
  })

  it('keeps serving good requests from another peer while one misbehaves', async () => {
    const { b, raw } = await target({ peerTimeoutMs: 500, maxStreamsPerPeer: 4 })
    const a = await nodes.start({ name: 'a', peers: [b.mesh.addresses()[0]!] })
    await waitFor('a to see b', () => peerIds(a).includes(b.mesh.peerId))
    const junk = await Promise.allSettled(Array.from({ length: 10 }, () => raw.openForward(b.mesh.peerId)))
    for (const r of junk)
      if (r.status === 'fulfilled' && r.value.stream.status === 'open') r.value.stream.send(encodeJsonFrame(FrameType.RequestHead, { nonsense: true }))
    for (let i = 0; i < 5; i++) {
      expect(await text((await a.mesh.forward(b.mesh.peerId, request(), { signal: AbortSignal.timeout(5000) })).body)).toBe('got 2')
    }
  })
})
