/**
 * A local llama-server's answer as the client gets it, and the undici dispatch handler of
 * the request that fetches it, in one object. undici's request() would put a Readable of
 * its own between the socket and this one, with an AsyncResource, an abort listener and a
 * promise per request; here each chunk undici reads is pushed once, straight to the client's
 * side. Backpressure: a client that reads slower pauses undici's parser (and so the socket);
 * reading again resumes it. Destroying this body (the client went away) aborts the upstream
 * request, which frees llama-server's slot.
 *
 * On the way it keeps the last chunks, where llama-server puts its `timings` (tokens
 * generated and time taken) and usage: that is how herd learns a rate, and a tenant's tokens
 * (`whenEnded`), without parsing every event or copying bytes.
 */
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { TailFields, type TailField } from './tail-fields.ts'
import { TAIL_BYTES, type ChunkFilter, type TailKeepingBody } from './types.ts'

/** An "event" longer than this without a boundary is passed on as it is rather than held. */
const MAX_PARTIAL_EVENT_BYTES = 1024 * 1024

export interface UpstreamHead {
  status: number
  headers: Record<string, string | string[] | undefined>
}

export class LocalBody extends Readable implements TailKeepingBody, Dispatcher.DispatchHandler {
  /** Settles when the response head arrives, or rejects when the request fails before it. */
  readonly head: Promise<UpstreamHead>
  private resolveHead: ((head: UpstreamHead) => void) | undefined
  private rejectHead: ((err: Error) => void) | undefined
  /** undici's handle on the request (pause, resume, abort), from its start. */
  private controller: Dispatcher.DispatchController | undefined
  /** An abort asked for before undici started the request: applied when it does. */
  private abortReason: Error | undefined
  /** What to do when the upstream fails after the head (set by the local target). */
  private onFailure: ((err: Error) => void) | undefined
  /** The upstream answered in full, or failed: nothing left to abort. */
  private settled = false
  private sse = false
  /** The consumer has asked for data: until then chunks wait in `early` (so a filter installed first sees them all). */
  private reading = false
  private early: Buffer[] | undefined
  /** The upstream ended before the consumer first read. */
  private endedEarly = false
  /** An event stream's bytes after its last complete event (held until the event completes). */
  private partial: Buffer | undefined
  /** The last chunks, at least TAIL_BYTES of them when the body was that long (decoded only at the end). */
  private tail: Buffer[] = []
  private held = 0
  private ended = false
  private waiting: ((tail: TailFields | undefined) => void)[] = []
  /** The tail's fields, and how many chunks had come when they were read (more since, and they are read again). */
  private fields: TailFields | undefined
  private fieldsAt = -1
  /** What changes the bytes on their way (the tenant meter's), installed before any went out. */
  private changes: ChunkFilter | undefined
  private passed = false
  private decoded: string | undefined
  /** Chunks seen, and how many when `decoded` was made: more since, and it is made again. */
  private chunks = 0
  private decodedAt = -1

  constructor() {
    super()
    const { promise, resolve, reject } = Promise.withResolvers<UpstreamHead>()
    this.head = promise
    this.resolveHead = resolve
    this.rejectHead = reject
    this.once('end', this.onEnded)
    this.once('close', this.onClose)
  }

  /** Stop the upstream request (before or after its head) with `reason`; nothing once it has finished. */
  abort(reason: Error): void {
    if (this.settled) return
    if (this.controller === undefined) this.abortReason ??= reason
    else this.controller.abort(reason)
  }

  /** `failed` is told of an upstream failure after the head; before it, `head` rejects. */
  onUpstreamFailure(failed: (err: Error) => void): void {
    this.onFailure = failed
  }

  // undici's DispatchHandler (the controller-based API of undici 7 and later).

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.abortReason !== undefined) controller.abort(this.abortReason)
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx (informational) heads come before the real one.
    if (statusCode < 200) return
    const resolve = this.resolveHead
    this.resolveHead = undefined
    this.rejectHead = undefined
    this.sse = String(headers['content-type'] ?? '').includes('text/event-stream')
    resolve?.({ status: statusCode, headers })
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks++
    this.tail.push(chunk)
    this.held += chunk.length
    while (this.tail.length > 1 && this.held - (this.tail[0] as Buffer).length >= TAIL_BYTES) this.held -= (this.tail.shift() as Buffer).length
    if (this.destroyed) return
    // undici hands on the first chunks in the same tick as the head, before the local target's
    // caller (the tenant meter) had a chance to install its filter: they wait for the first read.
    if (!this.reading) {
      ;(this.early ??= []).push(chunk)
      controller.pause()
      return
    }
    this.pass(chunk)
  }

  onResponseEnd(): void {
    this.settled = true
    if (this.destroyed) return
    if (this.reading) this.finish()
    else this.endedEarly = true
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    this.settled = true
    const reject = this.rejectHead
    if (reject !== undefined) {
      this.resolveHead = undefined
      this.rejectHead = undefined
      reject(err)
      return
    }
    if (this.onFailure !== undefined) this.onFailure(err)
    else this.destroy(err)
  }

  override _read(): void {
    if (!this.reading) {
      this.reading = true
      const more = this.flushEarly()
      if (this.endedEarly) return this.finish()
      if (!more) return
    }
    const c = this.controller
    if (!this.settled && c !== undefined && c.paused) c.resume()
  }

  /** The chunks that came before the first read, passed on; false when the consumer wants no more for now. */
  private flushEarly(): boolean {
    const early = this.early
    this.early = undefined
    let more = true
    if (early !== undefined) for (const chunk of early) more = this.pass(chunk)
    return more
  }

  /** One chunk on its way: whole events only for an event stream, through the filter if one is set. */
  private pass(chunk: Buffer): boolean {
    const whole = this.sse ? this.wholeEvents(chunk) : chunk
    const out = whole === undefined || this.changes === undefined ? whole : this.changes.push(whole)
    if (out === undefined) return true
    this.passed = true
    if (this.push(out)) return true
    this.controller?.pause()
    return false
  }

  private finish(): void {
    const rest = this.partial
    this.partial = undefined
    this.pushRest(rest)
    this.push(null)
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // The consumer went away (client disconnect): stop the upstream so llama-server frees the slot.
    // A body that ended is destroyed too (autoDestroy): no Error (its stack costs ~10 µs) for that.
    if (!this.settled) this.abort(err ?? new Error('client disconnected'))
    done(err)
  }

  filterWith(filter: ChunkFilter): boolean {
    if (this.passed || this.changes !== undefined) return false
    this.changes = filter
    return true
  }

  /** End with `last` (an SSE error event) in place of what the upstream would have sent; an event cut off mid-way is dropped, else it would merge with `last`. */
  endWith(last: string): void {
    this.flushEarly()
    this.partial = undefined
    this.settled = true
    this.pushRest(Buffer.from(last))
    this.push(null)
  }

  /** The held rest (an event without its blank line) and the filter's, before the end. */
  private pushRest(rest: Buffer | undefined): void {
    const f = this.changes
    const parts = f === undefined ? [rest] : [rest === undefined ? undefined : f.push(rest), f.end()]
    for (const p of parts) if (p !== undefined && p.length > 0) this.push(p)
  }

  private wholeEvents(chunk: Buffer): Buffer | undefined {
    const bytes = this.partial === undefined ? chunk : Buffer.concat([this.partial, chunk])
    this.partial = undefined
    // llama-server writes whole events per chunk: the common case costs one comparison.
    if (endsWithBoundary(bytes)) return bytes
    const end = lastEventEnd(bytes)
    if (end < 0 && bytes.length < MAX_PARTIAL_EVENT_BYTES) {
      this.partial = bytes
      return undefined
    }
    if (end < 0) return bytes
    this.partial = bytes.subarray(end)
    return bytes.subarray(0, end)
  }

  private readonly onEnded = (): void => {
    this.ended = true
  }

  private readonly onClose = (): void => {
    const tail = this.ended ? this.tailFields() : undefined
    for (const w of this.waiting.splice(0)) w(tail)
  }

  /** Decoded once, when first asked for (the lease's release and the tenant meter both read it, after the end). */
  private tailText(): string {
    if (this.decoded !== undefined && this.decodedAt === this.chunks) return this.decoded
    const all = this.tail.length === 1 ? (this.tail[0] as Buffer) : Buffer.concat(this.tail)
    this.decodedAt = this.chunks
    this.decoded = all.subarray(Math.max(0, all.length - TAIL_BYTES)).toString('latin1')
    return this.decoded
  }

  /** Read once, when first asked for: the lease's release (the rate) and the tenant meter (usage) both read them, after the end. */
  private tailFields(): TailFields {
    if (this.fields === undefined || this.fieldsAt !== this.chunks) {
      this.fields = new TailFields(this.tailText())
      this.fieldsAt = this.chunks
    }
    return this.fields
  }

  whenEnded(listener: (tail: TailFields | undefined) => void): void {
    if (this.closed) listener(this.ended ? this.tailFields() : undefined)
    else this.waiting.push(listener)
  }

  result(elapsedMs: number): { tokens?: number; ms?: number; promptTokens?: number } {
    const tail = this.tailFields()
    const n = tail.last(PREDICTED_N)
    const ms = tail.last(PREDICTED_MS, true)
    const prompt = tail.last(PROMPT_N)
    const promptTokens = prompt === undefined ? {} : { promptTokens: prompt }
    if (n !== undefined && ms !== undefined) return { tokens: n, ms, ...promptTokens }
    return { ms: elapsedMs, ...promptTokens }
  }
}

const PREDICTED_N: readonly TailField[] = ['predicted_n']
const PREDICTED_MS: readonly TailField[] = ['predicted_ms']
const PROMPT_N: readonly TailField[] = ['prompt_n']

/** Ends with a blank line (`\n\n`, or `\r\n\r\n` whose last three bytes are `\n\r\n`). */
function endsWithBoundary(b: Buffer): boolean {
  const n = b.length
  return n >= 2 && b[n - 1] === 0x0a && (b[n - 2] === 0x0a || (n >= 3 && b[n - 2] === 0x0d && b[n - 3] === 0x0a))
}

/** Where the last complete event ends (just past its blank line), or -1. */
function lastEventEnd(b: Buffer): number {
  const lf = b.lastIndexOf('\n\n')
  const crlf = b.lastIndexOf('\r\n\r\n')
  return Math.max(lf < 0 ? -1 : lf + 2, crlf < 0 ? -1 : crlf + 4)
}
