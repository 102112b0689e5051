/**
 * Writes forward-protocol frames to one stream, gathering the frames written in one turn
 * of the event loop into a single `stream.send`: a response head, a short body and the end
 * frame then cost one yamux frame, one Noise message and one socket write, not three.
 * The batch goes out at `setImmediate` (after the I/O callbacks of this turn), at once
 * when it reaches `maxBatchBytes`, or when the caller flushes.
 *
 * Backpressure as `sendFrame`: once the stream's buffer is full, `write` waits for it to
 * drain, so a writer never holds more than one batch plus the stream's buffer.
 */
import type { Stream } from '@libp2p/interface'
import { StreamClosedError, waitForDrain } from './frame-reader.ts'

/** Large enough for a head, a typical non-streamed answer and the end; small enough not to delay a big body. */
const DEFAULT_MAX_BATCH_BYTES = 64 * 1024

export class FrameWriter {
  private readonly stream: Stream
  private readonly maxBatchBytes: number
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private scheduled: NodeJS.Immediate | undefined

  constructor(stream: Stream, init: { maxBatchBytes?: number } = {}) {
    this.stream = stream
    this.maxBatchBytes = init.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES
  }

  /** Queues one encoded frame; resolves once the stream can take more. */
  async write(frame: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.enqueue(frame)
    if (this.pendingBytes >= this.maxBatchBytes) this.flush()
    await waitForDrain(this.stream, options.signal)
  }

  /** Queues one frame without waiting (keep-alives, which skip a stream that needs draining anyway). */
  enqueue(frame: Uint8Array): void {
    if (this.stream.writeStatus !== 'writable') throw new StreamClosedError(`cannot write: stream is ${this.stream.writeStatus}`)
    this.pending.push(frame)
    this.pendingBytes += frame.byteLength
    this.scheduled ??= setImmediate(this.flushSoon)
  }

  /** Sends what is queued now. Throws when the stream can no longer be written. */
  flush(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled)
      this.scheduled = undefined
    }
    if (this.pending.length === 0) return
    const batch = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes)
    this.pending = []
    this.pendingBytes = 0
    if (this.stream.writeStatus !== 'writable') throw new StreamClosedError(`cannot write: stream is ${this.stream.writeStatus}`)
    this.stream.send(batch)
  }

  /** Sends what is queued and waits until the stream can take more. */
  async flushAndDrain(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.flush()
    await waitForDrain(this.stream, options.signal)
  }

  /** Drops what is queued (the stream is being reset). */
  discard(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled)
    this.scheduled = undefined
    this.pending = []
    this.pendingBytes = 0
  }

  private readonly flushSoon = (): void => {
    this.scheduled = undefined
    try {
      this.flush()
    } catch {
      // The stream closed under the batch: its 'close' event tells the writer's owner.
    }
  }
}
