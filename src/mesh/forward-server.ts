/**
 * The serving side of `/herd/forward/1.0.0`: read a request off the stream, hand it to the
 * daemon's handler (`onForward`), relay the response head and body back as frames, end
 * with an end frame, then wait on the same stream for the next request.
 *
 * The handler's signal aborts when the stream is reset or closes mid-request (the client
 * went away), so the local llama-server request stops too. While nothing flows (model
 * loading, a long prompt) keep-alive frames tell the client the node is still alive.
 *
 * A peer holding the secret is trusted to send requests, not to exhaust this node: it may
 * hold at most `maxStreamsPerPeer` streams here, buffer at most `maxBufferedBytesPerPeer`
 * of request bodies, announce bodies up to `maxBodyBytes`, and every frame it has begun
 * must complete within `peerTimeoutMs`. What breaks these rules is refused (see Refusals).
 */
import type { Connection, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'
import { isHerdError } from '../errors/index.ts'
import type { UpstreamResponse, WaitState } from '../router/types.ts'
import { MAX_BODY_BYTES, MAX_BUFFERED_BYTES_PER_PEER, MAX_INBOUND_STREAMS_PER_PEER } from './constants.ts'
import { MAX_HEAD_BYTES, encodeWaitState, parseFrame, requestHeadSchema, type EndMessage, type RequestHead, type ResponseHead } from './forward-messages.ts'
import { FrameError, FrameType, MAX_FRAME_PAYLOAD, encodeFrame, encodeJsonFrame, type FrameErrorKind } from './frame.ts'
import { FrameReader, FrameTimeoutError, SilenceError, sendFrame } from './frame-reader.ts'
import { FrameWriter } from './frame-writer.ts'
import { quickRequestHead } from './head-check.ts'
import type { RefusalKind, Refusals } from './refusals.ts'
import type { ForwardRequest } from './types.ts'

const FRAME_REFUSAL: Record<FrameErrorKind, RefusalKind> = {
  type: 'bad_frame',
  length: 'frame_too_large',
  json: 'bad_head',
  schema: 'bad_head',
  sequence: 'bad_frame',
}

/**
 * Serves one forwarded request. `onWaiting` takes a live view of what it waits on (a cold
 * start, a queue); the server sends it to the asking node in keep-alives until the head.
 */
export type ForwardHandler = (req: ForwardRequest, options: { signal: AbortSignal; onWaiting?: (state: () => WaitState) => void }) => Promise<UpstreamResponse>

/** The end frame of every request that went well: encoded once (frames are never changed once made). */
const END_OK = encodeJsonFrame(FrameType.End, { ok: true } satisfies EndMessage)

/** While a request waits for its head and says what it waits on, a status keep-alive goes about this often. */
const STATUS_INTERVAL_MS = 1_000

export interface ForwardServerComponents {
  logger: Logger
  onForward: ForwardHandler
  refusals: Refusals
}

export interface ForwardServerInit {
  /** How long a request body may stall between frames, and how long a begun frame may take. */
  peerTimeoutMs: number
  /** Send a keep-alive after this long without any frame. @default peerTimeoutMs / 3 */
  keepAliveMs?: number
  /** Largest request body accepted (the daemon passes `http.body_limit_bytes`). @default 64 MiB */
  maxBodyBytes?: number
  /** Forward streams one peer may hold open here at once. @default 64 */
  maxStreamsPerPeer?: number
  /** Request body bytes buffered for one peer at once. @default max(32 MiB, maxBodyBytes) */
  maxBufferedBytesPerPeer?: number
}

interface PeerUsage {
  streams: number
  bufferedBytes: number
}

export class ForwardServer {
  private readonly components: ForwardServerComponents
  private readonly peerTimeoutMs: number
  private readonly keepAliveMs: number
  private readonly maxBodyBytes: number
  private readonly maxStreamsPerPeer: number
  private readonly maxBufferedBytesPerPeer: number
  private readonly streams = new Set<Stream>()
  private readonly usage = new Map<string, PeerUsage>()
  private serving = 0
  private idleWaiters: Array<() => void> = []
  private controller = new AbortController()

  constructor(components: ForwardServerComponents, init: ForwardServerInit) {
    this.components = components
    this.peerTimeoutMs = init.peerTimeoutMs
    this.keepAliveMs = init.keepAliveMs ?? Math.max(10, Math.floor(init.peerTimeoutMs / 3))
    this.maxBodyBytes = init.maxBodyBytes ?? MAX_BODY_BYTES
    this.maxStreamsPerPeer = init.maxStreamsPerPeer ?? MAX_INBOUND_STREAMS_PER_PEER
    this.maxBufferedBytesPerPeer = init.maxBufferedBytesPerPeer ?? Math.max(MAX_BUFFERED_BYTES_PER_PEER, this.maxBodyBytes)
  }

  start(): void {
    if (this.controller.signal.aborted) this.controller = new AbortController()
  }

  /** Abort every request being served and reset their streams. */
  stop(): void {
    this.controller.abort(new Error('mesh stopping'))
    for (const stream of this.streams) stream.abort(new Error('mesh stopping'))
    this.streams.clear()
  }

  /** Requests from peers being read or served right now (an idle pooled stream is not one). */
  inFlight(): number {
    return this.serving
  }

  /** Resolves true once no peer request is in flight, false if `signal` aborts first. */
  async drain(options: { signal: AbortSignal }): Promise<boolean> {
    const { signal } = options
    while (this.serving > 0) {
      if (signal.aborted) return false
      const { promise, resolve } = Promise.withResolvers<void>()
      const onAbort = (): void => resolve()
      signal.addEventListener('abort', onAbort, { once: true })
      this.idleWaiters.push(resolve)
      await promise
      signal.removeEventListener('abort', onAbort)
      this.idleWaiters = this.idleWaiters.filter((w) => w !== resolve)
    }
    return true
  }

  readonly handle = async (stream: Stream, connection: Connection): Promise<void> => {
    const peer = connection.remotePeer.toString()
    const stop = this.controller.signal
    const { refusals } = this.components
    let usage = this.usage.get(peer)
    if (usage === undefined) {
      usage = { streams: 0, bufferedBytes: 0 }
      this.usage.set(peer, usage)
    }
    if (usage.streams >= this.maxStreamsPerPeer) {
      refusals.refuse(peer, 'stream_limit', 'refused a forward stream: the peer holds too many', { limit: this.maxStreamsPerPeer })
      stream.abort(new Error(`more than ${this.maxStreamsPerPeer} forward streams from one peer`))
      return
    }
    usage.streams += 1
    const reader = new FrameReader(stream)
    this.streams.add(stream)
    try {
      while (!stop.aborted) {
        // An idle pooled stream waits here for as long as the client keeps it; a head that
        // has begun to arrive must be whole within peerTimeoutMs.
        const first = await reader.next({ signal: stop, frameTimeoutMs: this.peerTimeoutMs, maxPayload: MAX_HEAD_BYTES })
        if (first === null) {
          await stream.close({ signal: AbortSignal.timeout(this.peerTimeoutMs) })
          return
        }
        if (first.type !== FrameType.RequestHead) throw new FrameError(`expected a request head, got frame type ${first.type}`)
        const head = parseFrame(first, requestHeadSchema, quickRequestHead)
        const reusable = await this.request(stream, reader, peer, usage, head, stop)
        if (!reusable) return
      }
    } catch (err: unknown) {
      if (!stop.aborted) this.refuseBroken(peer, err)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      reader.detach()
      this.streams.delete(stream)
      usage.streams -= 1
      if (usage.streams === 0 && usage.bufferedBytes === 0) this.usage.delete(peer)
    }
  }

  /** One request, from its head to its end frame; resolves to whether the stream can carry another. */
  private async request(stream: Stream, reader: FrameReader, peer: string, usage: PeerUsage, head: RequestHead, stop: AbortSignal): Promise<boolean> {
    const { refusals } = this.components
    if (head.bodyLength > this.maxBodyBytes) {
      refusals.refuse(peer, 'body_too_large', 'refused a forwarded request: its body is over the limit', {
        request_id: head.requestId,
        bodyLength: head.bodyLength,
        limit: this.maxBodyBytes,
      })
      await this.answerAndReset(stream, {
        ok: false,
        code: 'body_too_large',
        message: `request body of ${head.bodyLength} bytes is over this node's limit of ${this.maxBodyBytes}`,
      })
      return false
    }
    if (usage.bufferedBytes + head.bodyLength > this.maxBufferedBytesPerPeer) {
      refusals.refuse(peer, 'buffer_full', 'refused a forwarded request: the peer has too many request bytes buffered here', {
        request_id: head.requestId,
        bodyLength: head.bodyLength,
        buffered: usage.bufferedBytes,
        limit: this.maxBufferedBytesPerPeer,
      })
      await this.answerAndReset(stream, {
        ok: false,
        code: 'queue_full',
        message: `too many request bytes from this peer in flight (${usage.bufferedBytes} of ${this.maxBufferedBytesPerPeer})`,
      })
      return false
    }
    usage.bufferedBytes += head.bodyLength
    this.serving += 1
    try {
      const body = await this.readBody(reader, head, stop)
      return await this.serve(stream, peer, head, body)
    } finally {
      usage.bufferedBytes -= head.bodyLength
      this.serving -= 1
      if (this.serving === 0) for (const wake of this.idleWaiters.splice(0)) wake()
    }
  }

  /** Tell the client why, flush that, then reset: the body it is still sending is not read. */
  private async answerAndReset(stream: Stream, end: EndMessage): Promise<void> {
    try {
      await sendFrame(stream, encodeJsonFrame(FrameType.End, end), { signal: AbortSignal.timeout(this.peerTimeoutMs) })
      await stream.close({ signal: AbortSignal.timeout(Math.min(1000, this.peerTimeoutMs)) })
    } catch {
      // The reset below is the answer then.
    }
    stream.abort(new Error(end.ok ? 'refused' : end.message))
  }

  private refuseBroken(peer: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err)
    const { refusals } = this.components
    if (err instanceof FrameTimeoutError) refusals.refuse(peer, 'frame_timeout', 'reset a forward stream: a frame did not complete in time', { err: message })
    else if (err instanceof SilenceError) refusals.refuse(peer, 'frame_timeout', 'reset a forward stream: the request body stalled', { err: message })
    else if (err instanceof FrameError) refusals.refuse(peer, FRAME_REFUSAL[err.kind], 'reset a forward stream that broke the protocol', { err: message })
    else this.components.logger.debug({ peer, err: message }, 'forward stream failed')
  }

  private async readBody(reader: FrameReader, head: RequestHead, signal: AbortSignal): Promise<Buffer> {
    // One buffer of the announced size, filled as frames come: no second copy to join chunks.
    const body = Buffer.allocUnsafe(head.bodyLength)
    // The whole body within a silence window per frame's worth: a trickle cannot hold the budget for ever.
    const deadline = Date.now() + this.peerTimeoutMs * (1 + Math.ceil(head.bodyLength / MAX_FRAME_PAYLOAD))
    let received = 0
    while (received < head.bodyLength) {
      const frame = await reader.next({ signal, timeoutMs: this.peerTimeoutMs, frameTimeoutMs: this.peerTimeoutMs, deadline })
      if (frame === null) throw new FrameError(`stream ended after ${received} of ${head.bodyLength} body bytes`)
      if (frame.type !== FrameType.Body) throw new FrameError(`expected request body, got frame type ${frame.type}`)
      if (received + frame.payload.byteLength > head.bodyLength) throw new FrameError(`request body longer than the announced ${head.bodyLength} bytes`)
      body.set(frame.payload, received)
      received += frame.payload.byteLength
    }
    return body
  }

  /** Serves one request; resolves to whether the stream can carry another. */
  private async serve(stream: Stream, peer: string, head: RequestHead, body: Buffer): Promise<boolean> {
    const log = this.components.logger.child({ request_id: head.requestId, peer })
    const ac = new AbortController()
    let res: UpstreamResponse | undefined
    const onGone = (): void => {
      ac.abort(new Error(`peer ${peer} went away mid-request`))
      res?.body.destroy()
    }
    const stop = this.controller.signal
    stream.addEventListener('close', onGone)
    stop.addEventListener('abort', onGone)
    let lastSent = Date.now()
    // Frames written in one turn of the event loop leave as one write (head, short body, end).
    const writer = new FrameWriter(stream)
    const send = async (frame: Uint8Array): Promise<void> => {
      await writer.write(frame, { signal: ac.signal })
      lastSent = Date.now()
    }
    // The end frame goes out now, not at the next turn: the stream is then ready for the next request.
    const end = async (message: EndMessage): Promise<void> => {
      await send(message.ok ? END_OK : encodeJsonFrame(FrameType.End, message))
      await writer.flushAndDrain({ signal: ac.signal })
    }
    // What the request waits on, until its head: sent about every second; otherwise a bare keep-alive after keepAliveMs of silence.
    let waiting: (() => WaitState) | undefined
    const keepAlive = setInterval(
      () => {
        if (stream.writeStatus !== 'writable' || stream.writableNeedsDrain) return
        const state = res === undefined ? readState(waiting) : undefined
        if (state === undefined && Date.now() - lastSent < this.keepAliveMs) return
        writer.enqueue(encodeFrame(FrameType.KeepAlive, state === undefined ? undefined : encodeWaitState(state)))
        lastSent = Date.now()
      },
      Math.min(this.keepAliveMs, STATUS_INTERVAL_MS),
    )
    try {
      const req: ForwardRequest = { requestId: head.requestId, method: head.method, path: head.path, headers: head.headers, hops: head.hops, body }
      try {
        res = await this.components.onForward(req, { signal: ac.signal, onWaiting: (state) => (waiting = state) })
      } catch (err: unknown) {
        if (ac.signal.aborted) return false
        log.debug({ err: String(err) }, 'forwarded request failed before a response')
        await end(endError(err))
        return true
      }
      if (ac.signal.aborted) return false
      const responseHead: ResponseHead = { status: res.status, headers: res.headers, servedBy: res.servedBy }
      await send(encodeJsonFrame(FrameType.ResponseHead, responseHead))
      try {
        // The async iterator pulls one chunk at a time: upstream is read no faster than the peer takes it.
        for await (const item of res.body as AsyncIterable<Uint8Array | string>) {
          const chunk = typeof item === 'string' ? Buffer.from(item, 'utf8') : item
          for (let offset = 0; offset < chunk.byteLength; offset += MAX_FRAME_PAYLOAD) {
            await send(encodeFrame(FrameType.Body, chunk.subarray(offset, offset + MAX_FRAME_PAYLOAD)))
          }
        }
      } catch (err: unknown) {
        if (ac.signal.aborted || stream.writeStatus !== 'writable') return false
        log.debug({ err: String(err) }, 'response body failed mid-stream')
        await end(endError(err))
        return true
      }
      await end({ ok: true })
      return true
    } catch (err: unknown) {
      // Writing to the peer failed: the stream is gone.
      if (!ac.signal.aborted) log.debug({ err: String(err) }, 'could not write the response to the peer')
      return false
    } finally {
      clearInterval(keepAlive)
      // Everything that should have gone has (end() flushes); what is left belongs to a broken request.
      writer.discard()
      stream.removeEventListener('close', onGone)
      stop.removeEventListener('abort', onGone)
      if (res !== undefined && !res.body.readableEnded) res.body.destroy()
    }
  }
}

/** The status to send, if any: a failing status view costs the status, never the timer (a throw there would end the process). */
function readState(waiting: (() => WaitState) | undefined): WaitState | undefined {
  try {
    return waiting?.()
  } catch {
    return undefined
  }
}

function endError(err: unknown): EndMessage {
  const message = err instanceof Error ? err.message : String(err)
  return isHerdError(err) ? { ok: false, message, code: err.code } : { ok: false, message }
}
