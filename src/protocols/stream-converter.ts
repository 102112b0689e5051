/**
 * What both stream converters share: upstream bytes in (split anywhere), downstream SSE
 * text out, synchronously, event by event. A conversion failure (an event that does not
 * parse, one over the size cap, an upstream error event, a stream that stops short) ends
 * the downstream stream with the client protocol's error event; after that, and after the
 * protocol's last event, further input is ignored.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { HerdError, sseErrorEvent, type ErrorShape } from '../errors/index.ts'
import { isObject, malformed, type JsonObject } from './read.ts'
import { SseDecoder, type SseEvent } from './sse.ts'

/** An incremental stream conversion: call push() per upstream chunk, end() when it ends. */
export interface SseConverter {
  /** Downstream SSE text for this upstream chunk (often '' while an event is incomplete). */
  push(chunk: Uint8Array | string): string
  /** Downstream SSE text that closes the stream (an error event if the upstream stopped short). */
  end(): string
  /** True once the downstream stream is complete (its last event or an error event written). */
  readonly finished: boolean
}

export interface StreamConverterInit {
  /** Cap on one upstream event (default MAX_SSE_EVENT_BYTES). */
  maxEventBytes?: number
}

export abstract class SseStreamConverter implements SseConverter {
  private readonly decoder: SseDecoder
  private closed = false
  private readonly shape: ErrorShape

  protected constructor(shape: ErrorShape, init: StreamConverterInit) {
    this.shape = shape
    this.decoder = new SseDecoder(init.maxEventBytes)
  }

  get finished(): boolean {
    return this.closed
  }

  push(chunk: Uint8Array | string): string {
    if (this.closed) return ''
    const out: string[] = []
    try {
      for (const event of this.decoder.push(chunk)) {
        this.onEvent(event, out)
        if (this.closed) break
      }
    } catch (err: unknown) {
      this.fail(err, out)
    }
    return out.join('')
  }

  end(): string {
    if (this.closed) return ''
    const out: string[] = []
    try {
      for (const event of this.decoder.end()) {
        this.onEvent(event, out)
        if (this.closed) break
      }
      if (!this.closed) this.onEnd(out)
    } catch (err: unknown) {
      this.fail(err, out)
    }
    this.closed = true
    return out.join('')
  }

  /** The downstream stream is complete: ignore what follows. */
  protected close(): void {
    this.closed = true
  }

  protected abstract onEvent(event: SseEvent, out: string[]): void

  /** The upstream ended without its protocol's last event: finish or throw. */
  protected abstract onEnd(out: string[]): void

  private fail(err: unknown, out: string[]): void {
    out.push(sseErrorEvent(err, this.shape))
    this.closed = true
  }
}

/** An event's data as a JSON object, or the backend's fault. */
export function parseEventData(event: SseEvent): JsonObject {
  let value: unknown
  try {
    value = JSON.parse(event.data)
  } catch {
    throw malformed(`stream event ${event.event || 'message'} is not JSON`)
  }
  if (!isObject(value)) throw malformed(`stream event ${event.event || 'message'} is not a JSON object`)
  return value
}

/** An error the backend reported (in either protocol's shape) as the HerdError the client sees. */
export function backendError(body: JsonObject): HerdError {
  const inner = isObject(body['error']) ? body['error'] : body
  const message = typeof inner['message'] === 'string' ? inner['message'] : 'no message'
  const type = typeof inner['type'] === 'string' ? `${inner['type']}: ` : ''
  return new HerdError('upstream_error', `backend error: ${type}${message.slice(0, 1000)}`)
}

/**
 * An upstream body converted chunk by chunk, with backpressure. Once the converter is
 * finished (its last event, or an error event) the output ends and the source is
 * destroyed, which aborts the upstream request; the output closing early (the client went
 * away) destroys the source at once, even one that is silent. A source failure before
 * then fails the output (the relay ends an SSE stream with an error event).
 */
export function convertSseStream(source: Readable, converter: SseConverter): Readable {
  const stopSource = (): void => {
    source.unpipe(out)
    if (!source.destroyed) source.destroy()
  }
  const out = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback): void {
      if (converter.finished) return done()
      const text = converter.push(chunk)
      if (converter.finished) {
        stopSource()
        this.end()
      }
      done(null, text === '' ? undefined : text)
    },
    flush(done: TransformCallback): void {
      const tail = converter.end()
      done(null, tail === '' ? undefined : tail)
    },
  })
  // Errors a source raises once it is being stopped (an aborted request) are not the client's.
  source.on('error', (err: Error) => {
    if (!converter.finished && !out.destroyed) out.destroy(err)
  })
  out.once('close', stopSource)
  return source.pipe(out)
}
