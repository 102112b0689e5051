/**
 * Reads forward-protocol frames off one libp2p stream, one `next()` at a time.
 *
 * Backpressure: bytes arrive as 'message' events whether or not anyone reads, so once more
 * than `highWaterBytes` wait undecoded and nobody is asking, the libp2p stream is paused
 * (yamux then stops granting send window, and the sender's `send` starts returning false);
 * it resumes when a reader needs more. Buffering is bounded by that mark plus one window.
 */
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { FrameDecoder, FrameError, type Frame } from './frame.ts'

const DEFAULT_HIGH_WATER_BYTES = 256 * 1024

export class StreamClosedError extends Error {
  readonly code = 'ERR_STREAM_CLOSED'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'StreamClosedError'
  }
}

/** Nothing arrived for `timeoutMs` while a frame was awaited. */
export class SilenceError extends Error {
  readonly code = 'ERR_SILENCE'
  readonly timeoutMs: number
  constructor(timeoutMs: number) {
    super(`nothing received for ${timeoutMs} ms`)
    this.timeoutMs = timeoutMs
    this.name = 'SilenceError'
  }
}

/** A frame that had begun to arrive did not complete in time, or the caller's deadline passed. */
export class FrameTimeoutError extends Error {
  readonly code = 'ERR_FRAME_TIMEOUT'
  readonly timeoutMs: number
  constructor(message: string, timeoutMs: number) {
    super(message)
    this.timeoutMs = timeoutMs
    this.name = 'FrameTimeoutError'
  }
}

export interface NextFrameOptions {
  signal?: AbortSignal
  /** Reject with SilenceError when no byte arrives for this long. Unset: wait forever. */
  timeoutMs?: number
  /**
   * Reject with FrameTimeoutError when a frame that has begun to arrive is not whole this
   * long after its first byte (or after this call, if the bytes waited unread). An empty
   * buffer is not a frame begun: an idle stream may wait between requests for ever.
   */
  frameTimeoutMs?: number
  /** Reject with FrameTimeoutError when no whole frame is here by this time (`Date.now()` clock). */
  deadline?: number
  /** Largest payload accepted for this frame (FrameError beyond). @default MAX_FRAME_PAYLOAD */
  maxPayload?: number
}

export class FrameReader {
  readonly stream: Stream
  private readonly decoder = new FrameDecoder()
  private readonly highWaterBytes: number
  private wake: (() => void) | undefined
  private remoteEnded = false
  /** undefined while open; null after a clean close; the error after a reset or abort. */
  private closed: Error | null | undefined
  private failure: Error | undefined
  private pauseQueued = false
  /** When the first byte of the frame now partly buffered arrived. */
  private partialSince = 0

  constructor(stream: Stream, init: { highWaterBytes?: number } = {}) {
    this.stream = stream
    this.highWaterBytes = init.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
  }

  /** Open both ways with nothing unread: fit to carry another request. */
  get reusable(): boolean {
    return (
      this.closed === undefined &&
      !this.remoteEnded &&
      this.failure === undefined &&
      this.decoder.bufferedBytes === 0 &&
      this.stream.status === 'open' &&
      this.stream.writeStatus === 'writable'
    )
  }

  get isClosed(): boolean {
    return this.closed !== undefined
  }

  /** The next frame, or null when the remote closed its side cleanly between frames. */
  async next(options: NextFrameOptions = {}): Promise<Frame | null> {
    if (this.wake !== undefined) throw new Error('FrameReader.next() called while another read is pending')
    const calledAt = Date.now()
    while (true) {
      const frame = this.tryNext(options.maxPayload)
      if (frame !== null) {
        if (this.decoder.bufferedBytes < this.highWaterBytes / 2) this.resume()
        return frame
      }
      if (this.closed != null) throw new StreamClosedError(`stream reset: ${this.closed.message}`, { cause: this.closed })
      if (this.closed === null || this.remoteEnded) {
        if (this.decoder.bufferedBytes > 0) throw new StreamClosedError('stream ended in the middle of a frame')
        return null
      }
      if (this.stream.readStatus === 'paused') {
        // resume() hands over what the stream held while paused, synchronously: decode again first.
        this.stream.resume()
        continue
      }
      await this.waitForData(options, calledAt)
    }
  }

  /** A whole frame already buffered, or null; never waits. Throws FrameError (for good: the stream is unusable after it). */
  tryNext(maxPayload?: number): Frame | null {
    if (this.failure !== undefined) throw this.failure
    let frame: Frame | null
    try {
      frame = this.decoder.next(maxPayload)
    } catch (err: unknown) {
      this.failure = err instanceof Error ? err : new FrameError(String(err))
      throw this.failure
    }
    if (frame !== null && this.decoder.bufferedBytes > 0) this.partialSince = Date.now()
    return frame
  }

  /** Stop listening (the stream is being given up). */
  detach(): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
  }

  /** The earliest of the caller's deadlines that applies now, as [ms from now, error]. */
  private firstDeadline(options: NextFrameOptions, calledAt: number): [number, () => Error] | undefined {
    const now = Date.now()
    let best: [number, () => Error] | undefined
    const consider = (ms: number, error: () => Error): void => {
      if (best === undefined || ms < best[0]) best = [Math.max(0, ms), error]
    }
    const { timeoutMs, frameTimeoutMs, deadline } = options
    if (timeoutMs !== undefined) consider(timeoutMs, () => new SilenceError(timeoutMs))
    if (frameTimeoutMs !== undefined && this.decoder.bufferedBytes > 0) {
      const since = Math.max(this.partialSince, calledAt)
      const buffered = this.decoder.bufferedBytes
      consider(
        since + frameTimeoutMs - now,
        () => new FrameTimeoutError(`a frame begun ${Date.now() - since} ms ago is still incomplete (${buffered} bytes so far)`, frameTimeoutMs),
      )
    }
    if (deadline !== undefined) consider(deadline - now, () => new FrameTimeoutError(`deadline passed ${Date.now() - deadline} ms ago`, deadline - calledAt))
    return best
  }

  private waitForData(options: NextFrameOptions, calledAt: number): Promise<void> {
    const { signal } = options
    const limit = this.firstDeadline(options, calledAt)
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason)
        return
      }
      if (limit !== undefined && limit[0] === 0) {
        reject(limit[1]())
        return
      }
      let timer: NodeJS.Timeout | undefined
      const done = (err?: unknown): void => {
        this.wake = undefined
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (err === undefined) resolve()
        else reject(err)
      }
      const onAbort = (): void => done(signal?.reason)
      this.wake = () => done()
      signal?.addEventListener('abort', onAbort, { once: true })
      if (limit !== undefined) timer = setTimeout(() => done(limit[1]()), limit[0])
    })
  }

  private resume(): void {
    if (this.stream.readStatus === 'paused') this.stream.resume()
  }

  private readonly onMessage = (evt: StreamMessageEvent): void => {
    if (this.decoder.bufferedBytes === 0) this.partialSince = Date.now()
    this.decoder.push(evt.data)
    if (this.wake !== undefined) {
      this.wake()
    } else if (this.decoder.bufferedBytes > this.highWaterBytes && !this.pauseQueued) {
      // Not from inside this dispatch: it may come from stream.resume(), which would then
      // re-open the yamux window right after our pause and leave the stream unbounded.
      this.pauseQueued = true
      queueMicrotask(this.maybePause)
    }
  }

  private readonly maybePause = (): void => {
    this.pauseQueued = false
    if (this.wake === undefined && this.decoder.bufferedBytes > this.highWaterBytes && this.stream.readStatus === 'readable') {
      this.stream.pause()
    }
  }

  private readonly onClose = (evt: StreamCloseEvent): void => {
    this.closed = evt.error ?? null
    this.wake?.()
  }

  private readonly onRemoteCloseWrite = (): void => {
    this.remoteEnded = true
    this.wake?.()
  }
}

/**
 * Sends one encoded frame and, when the stream's buffer is full, waits for it to drain,
 * so a writer never queues more than one frame ahead of the network.
 */
export async function sendFrame(stream: Stream, frame: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
  if (stream.writeStatus !== 'writable') throw new StreamClosedError(`cannot write: stream is ${stream.writeStatus}`)
  stream.send(frame)
  await waitForDrain(stream, options.signal)
}

/**
 * Waits until the stream can take more. Not `stream.onDrain()`: in @libp2p/utils 7.4 its
 * promise is never renewed after the first drain, so later calls return at once and a
 * fast producer fills memory.
 */
export async function waitForDrain(stream: Stream, signal?: AbortSignal): Promise<void> {
  while (stream.writableNeedsDrain) {
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        stream.removeEventListener('drain', onDrain)
        stream.removeEventListener('close', onClose)
        signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => {
        cleanup()
        resolve()
      }
      const onClose = (evt: StreamCloseEvent): void => {
        cleanup()
        reject(new StreamClosedError(`stream closed while writing${evt.error === undefined ? '' : `: ${evt.error.message}`}`, { cause: evt.error }))
      }
      const onAbort = (): void => {
        cleanup()
        reject(signal?.reason)
      }
      stream.addEventListener('drain', onDrain)
      stream.addEventListener('close', onClose)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    if (stream.status !== 'open') throw new StreamClosedError(`stream ${stream.status} while writing`)
  }
}
