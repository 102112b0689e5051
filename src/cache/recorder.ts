/**
 * The tee between a missed request's answer and its client: every chunk passes on as it
 * arrives (a Transform in the pipe, so a slow client still slows the upstream read, and
 * nothing waits for the whole body), and a copy is kept up to `maxBytes`, and while the
 * shared `budget` for copies in flight allows (so many answers recording at once cannot
 * hold more than the cache's own size). Only when the upstream body ended, uncut, is the
 * copy handed over; an answer that outgrew either bound stops being copied at once, and one
 * that failed or whose client left is never handed over at all.
 */
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream'

/** Bytes that copies in flight may hold together. */
export interface RecordingBudget {
  take(bytes: number): boolean
  give(bytes: number): void
}

export class Recorder extends Transform {
  private readonly maxBytes: number
  private readonly budget: RecordingBudget
  private readonly onComplete: (body: Buffer) => void
  private chunks: Buffer[] = []
  private size = 0
  private over = false

  constructor(maxBytes: number, budget: RecordingBudget, onComplete: (body: Buffer) => void) {
    super()
    this.maxBytes = maxBytes
    this.budget = budget
    this.onComplete = onComplete
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.over) {
      if (this.size + chunk.length > this.maxBytes || !this.budget.take(chunk.length)) this.stopCopying()
      else {
        this.chunks.push(chunk)
        this.size += chunk.length
      }
    }
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    if (!this.over) {
      const body = Buffer.concat(this.chunks, this.size)
      this.release()
      this.onComplete(body)
    }
    callback()
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.release()
    callback(err)
  }

  /** Stop copying: this answer will not be stored. */
  private stopCopying(): void {
    this.over = true
    this.release()
  }

  private release(): void {
    this.budget.give(this.size)
    this.size = 0
    this.chunks = []
  }
}

/**
 * `body` through a Recorder: a failure of `body` destroys the tee with the same error (so
 * the relay ends the answer as it would have), and the tee going away (the client left)
 * destroys `body`, which aborts the upstream.
 */
export function recordBody(body: Readable, maxBytes: number, budget: RecordingBudget, onComplete: (body: Buffer) => void): Readable {
  const tee = new Recorder(maxBytes, budget, onComplete)
  pipeline(body, tee, () => {})
  return tee
}

/** A budget of `limit` bytes. */
export function recordingBudget(limit: number): RecordingBudget & { readonly used: number } {
  let used = 0
  return {
    get used() {
      return used
    },
    take(bytes) {
      if (used + bytes > limit) return false
      used += bytes
      return true
    },
    give(bytes) {
      used -= bytes
    },
  }
}
