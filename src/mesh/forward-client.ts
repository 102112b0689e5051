/**
 * The asking side of `/herd/forward/1.0.0`: send the request head and body on a pooled
 * stream, resolve when the response head arrives, then stream the body as frames arrive.
 *
 * Failures before the head reject with a HerdError naming the peer, so the router can try
 * the next candidate. After the head they error the body stream. A peer that goes quiet
 * (no frame, not even a keep-alive, for `peerTimeoutMs`) or whose connection closes never
 * leaves the caller hanging.
 */
import { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { ERROR_CODES, HerdError, isHerdError, type ErrorCode } from '../errors/index.ts'
import type { UpstreamResponse, WaitState } from '../router/types.ts'
import { MAX_HEAD_BYTES, endSchema, parseFrame, parseWaitState, responseHeadSchema, type EndMessage, type RequestHead } from './forward-messages.ts'
import { FrameError, FrameType, MAX_FRAME_PAYLOAD, encodeFrame, encodeFrameHeader, encodeJsonFrame, type Frame } from './frame.ts'
import { FrameTimeoutError, SilenceError, sendFrame } from './frame-reader.ts'
import { quickResponseHead } from './head-check.ts'
import type { PooledStream, StreamPool } from './stream-pool.ts'
import type { ForwardRequest } from './types.ts'

export interface ForwardClientComponents {
  logger: Logger
  pool: StreamPool
}

export interface ForwardClientInit {
  /** Silence (no frame, not even a keep-alive) this long ends the request; a begun frame must complete within it. */
  peerTimeoutMs: number
  /** The response head must arrive within this long, keep-alives or not (as `headersTimeout` for a local llama-server). @default 600000 */
  headTimeoutMs?: number
  /** Body bytes must arrive at least this often, keep-alives or not (as `bodyTimeout` locally). @default 300000 */
  bodyGapMs?: number
}

const DEFAULT_HEAD_TIMEOUT_MS = 600_000
/** A request body up to this size travels in the same send as its head (copied once to join them). */
const COALESCE_BODY_BYTES = 64 * 1024
const DEFAULT_BODY_GAP_MS = 300_000

export class ForwardClient {
  private readonly components: ForwardClientComponents
  private readonly peerTimeoutMs: number
  private readonly headTimeoutMs: number
  private readonly bodyGapMs: number

  constructor(components: ForwardClientComponents, init: ForwardClientInit) {
    this.components = components
    this.peerTimeoutMs = init.peerTimeoutMs
    this.headTimeoutMs = init.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS
    this.bodyGapMs = init.bodyGapMs ?? DEFAULT_BODY_GAP_MS
  }

  /**
   * `onWaiting` hears the status a peer's keep-alives carry until the response head.
   * `endEventStream`: an event-stream answer that fails after its head (the peer gone,
   * silent, or reporting a failure) ends with the text it returns (the client's SSE error
   * event) instead of erroring, and any other body is destroyed with the error, so the
   * answer is `guarded` and the relay needs no guard stream of its own.
   */
  async forward(
    peerId: string,
    req: ForwardRequest,
    options: { signal: AbortSignal; onWaiting?: (state: WaitState) => void; endEventStream?: (err: Error) => string },
  ): Promise<UpstreamResponse> {
    const { signal } = options
    signal.throwIfAborted()
    const { pool } = this.components
    let entry: PooledStream
    try {
      ;({ entry } = await pool.acquire(peerId, { signal }))
    } catch (err: unknown) {
      if (signal.aborted) throw signal.reason
      throw new HerdError('peer_unavailable', `peer ${peerId}: cannot open a forward stream: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      })
    }
    // Until the head arrives an abort resets the stream here; after it, the body takes over.
    const onAbort = (): void => pool.discard(entry, abortError(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    let released = false
    try {
      try {
        await this.sendRequest(entry, req, signal)
      } catch (err: unknown) {
        // A peer refusing the request (body too large, too much buffered) answers with an
        // end frame and resets the stream under our feet: its reason beats "stream closed".
        const early = signal.aborted ? null : entry.reader.tryNext(MAX_HEAD_BYTES)
        if (early?.type !== FrameType.End) throw err
        throw endToError(parseFrame(early, endSchema), peerId)
      }
      const deadline = Date.now() + this.headTimeoutMs
      while (true) {
        const frame = await this.nextFrame(entry, peerId, signal, deadline)
        if (frame.type === FrameType.KeepAlive) {
          const state = options.onWaiting === undefined ? undefined : parseWaitState(frame.payload)
          if (state !== undefined) options.onWaiting?.(state)
          continue
        }
        if (frame.type === FrameType.ResponseHead) {
          const head = parseFrame(frame, responseHeadSchema, quickResponseHead)
          signal.removeEventListener('abort', onAbort)
          const endWith = options.endEventStream
          const sse = endWith !== undefined && (head.headers['content-type'] ?? '').includes('text/event-stream')
          const body = new ForwardBody({
            entry,
            pool,
            peerId,
            timeoutMs: this.peerTimeoutMs,
            bodyGapMs: this.bodyGapMs,
            signal,
            endWith: sse ? endWith : undefined,
          })
          return { status: head.status, headers: head.headers, servedBy: head.servedBy, body, guarded: endWith !== undefined }
        }
        if (frame.type === FrameType.End) {
          const end = parseFrame(frame, endSchema)
          // The exchange completed in protocol terms, so the stream can carry the next request.
          released = true
          pool.release(entry)
          throw endToError(end, peerId)
        }
        throw new HerdError('upstream_error', `peer ${peerId} sent an unexpected frame (type ${frame.type}) before the response head`)
      }
    } catch (err: unknown) {
      signal.removeEventListener('abort', onAbort)
      if (!released) pool.discard(entry, err instanceof Error ? err : new Error(String(err)))
      if (signal.aborted) throw signal.reason
      const herdErr = toHerdError(err, peerId, 'before the response head')
      this.components.logger.debug(
        { request_id: req.requestId, peer: peerId, code: herdErr.code, err: herdErr.message },
        'forward failed before the response head',
      )
      throw herdErr
    }
  }

  private async sendRequest(entry: PooledStream, req: ForwardRequest, signal: AbortSignal): Promise<void> {
    const head: RequestHead = {
      requestId: req.requestId,
      method: req.method,
      path: req.path,
      headers: req.headers,
      hops: req.hops,
      bodyLength: req.body.byteLength,
    }
    const headFrame = encodeJsonFrame(FrameType.RequestHead, head)
    if (req.body.byteLength <= COALESCE_BODY_BYTES) {
      // Head and a small body as one send: one yamux frame, one Noise message, one socket write.
      const frames = req.body.byteLength === 0 ? [headFrame] : [headFrame, encodeFrameHeader(FrameType.Body, req.body.byteLength), req.body]
      await sendFrame(entry.stream, frames.length === 1 ? headFrame : Buffer.concat(frames), { signal })
      return
    }
    await sendFrame(entry.stream, headFrame, { signal })
    for (let offset = 0; offset < req.body.byteLength; offset += MAX_FRAME_PAYLOAD) {
      await sendFrame(entry.stream, encodeFrame(FrameType.Body, req.body.subarray(offset, offset + MAX_FRAME_PAYLOAD)), { signal })
    }
  }

  private async nextFrame(entry: PooledStream, peerId: string, signal: AbortSignal, deadline: number): Promise<Frame> {
    const frame = await entry.reader.next({ signal, timeoutMs: this.peerTimeoutMs, frameTimeoutMs: this.peerTimeoutMs, deadline, maxPayload: MAX_HEAD_BYTES })
    if (frame === null) throw new HerdError('peer_unavailable', `peer ${peerId} closed the forward stream before responding`)
    return frame
  }
}

interface ForwardBodyInit {
  entry: PooledStream
  pool: StreamPool
  peerId: string
  timeoutMs: number
  bodyGapMs: number
  signal: AbortSignal
  /** An event stream: what to end it with when it fails (see `forward`); absent: fail by erroring. */
  endWith: ((err: Error) => string) | undefined
}

/**
 * The response body. It reads the next frame only when the consumer wants more data, so
 * a slow consumer slows the peer down (through the paused libp2p stream) instead of
 * filling memory.
 */
class ForwardBody extends Readable {
  private readonly init: ForwardBodyInit
  private pumping = false
  private finished = false
  /** The end is pushed: nothing may follow it. */
  private eof = false
  private lastBodyAt = Date.now()

  constructor(init: ForwardBodyInit) {
    super()
    this.init = init
    init.signal.addEventListener('abort', this.onAbort, { once: true })
    if (init.signal.aborted) queueMicrotask(this.onAbort)
  }

  override _read(): void {
    if (this.pumping || this.finished) return
    this.pumping = true
    void this.pump()
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.init.signal.removeEventListener('abort', this.onAbort)
    if (!this.finished) {
      this.finished = true
      // Ended early (consumer gone, abort, peer failure): reset so the peer stops generating.
      this.init.pool.discard(this.init.entry, err ?? new Error('response body destroyed before its end'))
    }
    callback(err)
  }

  private async pump(): Promise<void> {
    const { entry, peerId, timeoutMs, bodyGapMs, signal } = this.init
    try {
      while (!this.finished) {
        // Keep-alives say the peer is there, not that the answer moves: body bytes must come at least every bodyGapMs.
        const frame = await entry.reader.next({ signal, timeoutMs, frameTimeoutMs: timeoutMs, deadline: this.lastBodyAt + bodyGapMs })
        if (frame === null) throw new HerdError('peer_unavailable', `peer ${peerId} closed the forward stream mid-response`)
        if (frame.type === FrameType.KeepAlive) continue
        if (frame.type === FrameType.Body) {
          this.lastBodyAt = Date.now()
          if (!this.push(frame.payload)) break
          continue
        }
        if (frame.type === FrameType.End) {
          const end = parseFrame(frame, endSchema)
          this.finished = true
          this.init.signal.removeEventListener('abort', this.onAbort)
          // The exchange completed in protocol terms either way: the stream can carry the next request.
          this.init.pool.release(entry)
          if (end.ok) this.pushEnd()
          else this.fail(new HerdError(knownCode(end.code), `${end.message} (on peer ${peerId}, mid-response)`))
          return
        }
        throw new HerdError('upstream_error', `peer ${peerId} sent an unexpected frame (type ${frame.type}) mid-response`)
      }
    } catch (err: unknown) {
      if (this.destroyed) return
      this.fail(signal.aborted ? abortError(signal) : toHerdError(err, peerId, 'mid-response'))
    } finally {
      this.pumping = false
    }
  }

  /** After the head: an event stream ends with its error event (the peer's stream reset unless released), any other body errors. */
  private fail(err: Error): void {
    const endWith = this.init.endWith
    if (endWith === undefined) {
      this.destroy(err)
      return
    }
    if (this.eof) return
    if (!this.finished) {
      this.finished = true
      this.init.signal.removeEventListener('abort', this.onAbort)
      this.init.pool.discard(this.init.entry, err)
    }
    this.push(endWith(err))
    this.pushEnd()
  }

  private pushEnd(): void {
    this.eof = true
    this.push(null)
  }

  private readonly onAbort = (): void => {
    if (!this.destroyed) this.fail(abortError(this.init.signal))
  }
}

function endToError(end: EndMessage, peerId: string): HerdError {
  if (end.ok) return new HerdError('upstream_error', `peer ${peerId} ended the request without a response`)
  return new HerdError(knownCode(end.code), `${end.message} (on peer ${peerId})`)
}

function knownCode(code: string | undefined): ErrorCode {
  return code !== undefined && Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'upstream_error'
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError')
}

/** Every failure reaches the caller as a HerdError naming the peer; protocol violations are the peer's fault (upstream_error), the rest is about reaching it. */
function toHerdError(err: unknown, peerId: string, when: string): HerdError {
  if (isHerdError(err)) return err
  if (err instanceof SilenceError) return new HerdError('peer_unavailable', `peer ${peerId} sent nothing for ${err.timeoutMs} ms ${when}`, { cause: err })
  if (err instanceof FrameTimeoutError) return new HerdError('upstream_timeout', `peer ${peerId} timed out ${when}: ${err.message}`, { cause: err })
  if (err instanceof FrameError) return new HerdError('upstream_error', `peer ${peerId} broke the forward protocol ${when}: ${err.message}`, { cause: err })
  return new HerdError('peer_unavailable', `peer ${peerId} failed ${when}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}
