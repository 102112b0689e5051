/**
 * Serve a request on this node: take a slot lease from the supervisor and proxy the body
 * to that llama-server with undici, handing back the response head as soon as it arrives
 * and the body as a stream. The lease is released when the body ends, fails or is dropped.
 */
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Logger } from 'pino'
import { HerdError, sseErrorEvent, type ErrorShape } from '../errors/index.ts'
import type { ProfileSpec } from '../config/types.ts'
import type { AcquireOptions, Lease } from '../instances/types.ts'
import { startDeadline } from './deadline.ts'
import { relayableHeaders } from './headers.ts'
import { TAIL_BYTES, type ChunkFilter, type RouteRequest, type TailKeepingBody, type UpstreamResponse } from './types.ts'
import { acquire, upstreamSpans } from '../telemetry/index.ts'

/** The part of the supervisor the router needs. */
export interface LocalInstances {
  acquire(profile: ProfileSpec, options: AcquireOptions): Promise<Lease>
}

export interface LocalTargetComponents {
  logger: Logger
  instances: LocalInstances
  dispatcher: Dispatcher
  nodeName: string
  profile: (id: string) => ProfileSpec | undefined
  /** Called once per finished local response with what llama-server reported (metrics; `promptTokens` for usage). */
  onCompleted?: (profileId: string, stats: { tokens?: number; ms?: number; promptTokens?: number }) => void
}

export { relayableHeaders } from './headers.ts'

export async function serveLocal(c: LocalTargetComponents, req: RouteRequest): Promise<UpstreamResponse> {
  const profile = c.profile(req.profileId)
  if (profile === undefined) throw new HerdError('model_not_found', `model '${req.profileId}' is not served by this node`, { param: 'model' })
  // The client's signal, or one that also aborts when max_request_duration_ms runs out.
  const deadline = startDeadline({ limitMs: profile.maxRequestDurationMs, receivedAt: req.receivedAt, signal: req.signal, profileId: profile.id })
  let lease: Lease
  try {
    const onWaiting = req.onWaiting
    lease = await acquire(req.trace, c.instances, profile, {
      signal: deadline.signal,
      requestId: req.requestId,
      ...(req.deadline === undefined ? {} : { deadline: req.deadline }),
      // A cold start or a queue: what the request waits on, named for the client.
      ...(onWaiting === undefined ? {} : { onWaiting: (state) => onWaiting(() => ({ ...state(), model: profile.id, node: c.nodeName })) }),
    })
  } catch (err: unknown) {
    deadline.clear()
    throw err
  }
  // One controller fed by both signals (AbortSignal.any costs ~50x more per request and
  // leaves weak references on the long-lived lease signal); listeners go on release.
  const controller = new AbortController()
  const onClientAbort = (): void => controller.abort(deadline.signal.reason)
  const onExit = (): void => controller.abort(lease.exited.reason)
  deadline.signal.addEventListener('abort', onClientAbort, { once: true })
  lease.exited.addEventListener('abort', onExit, { once: true })
  const unlisten = (): void => {
    deadline.signal.removeEventListener('abort', onClientAbort)
    lease.exited.removeEventListener('abort', onExit)
    deadline.clear()
  }
  const signal = controller.signal
  const started = performance.now()
  const spans = upstreamSpans(req.trace, lease)
  let res: Dispatcher.ResponseData
  try {
    res = await c.dispatcher.request({
      origin: lease.baseUrl,
      path: req.path,
      method: req.method ?? 'POST',
      headers: { 'content-type': 'application/json', accept: req.headers['accept'] ?? '*/*', 'x-request-id': req.requestId },
      body: req.method === 'GET' ? undefined : req.body,
      signal,
      // Prompt processing of a long prompt happens before the head of a non-streaming answer.
      headersTimeout: 600_000,
      // The gap between two tokens; a stalled server is given up on.
      bodyTimeout: 300_000,
    })
  } catch (err: unknown) {
    spans?.failed(err)
    await settleCrash(lease, deadline.signal)
    unlisten()
    lease.release()
    throw deadline.timedOut ?? upstreamFailure(err, req, lease, profile)
  }
  spans?.answered(res.statusCode)
  const headers = relayableHeaders(res.headers, { trustLength: true })
  const sse = (headers['content-type'] ?? '').includes('text/event-stream')
  const body = new LocalBody(res.body, sse)
  let released = false
  const release = (): void => {
    if (released) return
    released = true
    unlisten()
    const result = body.result(performance.now() - started)
    spans?.done(result)
    lease.release(result)
    c.onCompleted?.(profile.id, result)
  }
  res.body.once('error', (err: Error) => {
    spans?.failed(err)
    void settleCrash(lease, deadline.signal).then(() => {
      const failure = deadline.timedOut ?? upstreamFailure(err, req, lease, profile)
      // The head is gone already: an event stream ends with an error event, other bodies are cut off.
      if (sse && !body.destroyed && !req.signal.aborted) {
        // What arrived of an event cut off mid-way would merge with the error event into one broken event.
        body.endWith(sseError(failure, req.errorShape))
      } else body.destroy(failure)
      release()
    })
  })
  body.once('end', release)
  body.once('close', () => {
    // The consumer went away (client disconnect): stop the upstream so llama-server frees the slot.
    if (!res.body.destroyed) res.body.destroy()
    release()
  })
  return { status: res.statusCode, headers, body, servedBy: c.nodeName, guarded: true }
}

/** An "event" longer than this without a boundary is passed on as it is rather than held. */
const MAX_PARTIAL_EVENT_BYTES = 1024 * 1024

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

/** The last SSE event of a stream that failed after its head, in the shape its clients parse (OpenAI's by default). */
export function sseError(err: unknown, shape?: ErrorShape): string {
  return sseErrorEvent(err, shape)
}

/**
 * A dropped connection usually means the llama-server died, but the socket can report it a
 * few milliseconds before the process exit is seen. Waiting briefly for the exit keeps the
 * supervisor's view ahead of the client: by the time the error is answered, the next
 * request already goes to a fresh instance instead of the dead one.
 */
async function settleCrash(lease: Lease, signal: AbortSignal): Promise<void> {
  if (lease.exited.aborted || signal.aborted) return
  const { promise, resolve } = Promise.withResolvers<void>()
  const timer = setTimeout(resolve, 250)
  const onExit = (): void => resolve()
  lease.exited.addEventListener('abort', onExit, { once: true })
  await promise
  clearTimeout(timer)
  // The lease's signal lives as long as the instance: a listener left on it per failure would pile up.
  lease.exited.removeEventListener('abort', onExit)
}

function upstreamFailure(err: unknown, req: RouteRequest, lease: Lease, profile: ProfileSpec): Error {
  if (req.signal.aborted) return req.signal.reason instanceof Error ? req.signal.reason : new Error('client aborted')
  if (lease.exited.aborted) return new HerdError('upstream_error', `llama-server for '${profile.id}' exited while serving the request`, { cause: err })
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new HerdError('upstream_timeout', `llama-server for '${profile.id}' timed out`, { cause: err })
  }
  return new HerdError('upstream_error', `llama-server for '${profile.id}' failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}

/**
 * The upstream body as the client gets it: undici's body read in flowing mode and pushed on
 * (one Readable, not a Transform piped in between: no writable half, no pipe per request),
 * paused when the client reads slower (backpressure), destroyed when the client goes (which
 * aborts the upstream request). On the way it keeps the last chunks, where llama-server
 * puts its `timings` (tokens generated and time taken) and usage: that is how herd learns a
 * rate, and a tenant's tokens (`whenEnded`), without parsing every event or copying bytes.
 */
class LocalBody extends Readable implements TailKeepingBody {
  private readonly source: Readable
  private readonly sse: boolean
  /** An event stream's bytes after its last complete event (held until the event completes). */
  private partial: Buffer | undefined
  /** The last chunks, at least TAIL_BYTES of them when the body was that long (decoded only at the end). */
  private tail: Buffer[] = []
  private held = 0
  private ended = false
  private waiting: ((tail: string | undefined) => void)[] = []
  /** What changes the bytes on their way (the tenant meter's), installed before any went out. */
  private changes: ChunkFilter | undefined
  private passed = false
  private decoded: string | undefined
  /** Chunks seen, and how many when `decoded` was made: more since, and it is made again. */
  private chunks = 0
  private decodedAt = -1

  /** `sse`: pass whole events only, so a stream cut off mid-event can still end with a clean error event. */
  constructor(source: Readable, sse: boolean) {
    super()
    this.source = source
    this.sse = sse
    source.on('data', this.onData)
    source.once('end', this.onEnd)
    this.once('end', this.onEnded)
    this.once('close', this.onClose)
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks++
    this.tail.push(chunk)
    this.held += chunk.length
    while (this.tail.length > 1 && this.held - (this.tail[0] as Buffer).length >= TAIL_BYTES) this.held -= (this.tail.shift() as Buffer).length
    const whole = this.sse ? this.wholeEvents(chunk) : chunk
    const out = whole === undefined || this.changes === undefined ? whole : this.changes.push(whole)
    if (out === undefined) return
    this.passed = true
    if (!this.push(out)) this.source.pause()
  }

  filterWith(filter: ChunkFilter): boolean {
    if (this.passed || this.changes !== undefined) return false
    this.changes = filter
    return true
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

  private readonly onEnd = (): void => {
    const rest = this.partial
    this.partial = undefined
    this.pushRest(rest)
    this.push(null)
  }

  override _read(): void {
    if (this.source.isPaused()) this.source.resume()
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // The consumer went away (client disconnect): stop the upstream so llama-server frees the slot.
    if (!this.source.destroyed) this.source.destroy()
    done(err)
  }

  /** End with `last` (an SSE error event) in place of what the upstream would have sent; an event cut off mid-way is dropped, else it would merge with `last`. */
  endWith(last: string): void {
    this.partial = undefined
    this.source.off('data', this.onData)
    this.source.off('end', this.onEnd)
    this.pushRest(Buffer.from(last))
    this.push(null)
  }

  private readonly onEnded = (): void => {
    this.ended = true
  }

  private readonly onClose = (): void => {
    const tail = this.ended ? this.tailText() : undefined
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

  whenEnded(listener: (tail: string | undefined) => void): void {
    if (this.closed) listener(this.ended ? this.tailText() : undefined)
    else this.waiting.push(listener)
  }

  result(elapsedMs: number): { tokens?: number; ms?: number; promptTokens?: number } {
    const tail = this.tailText().slice(-4096)
    const n = /"predicted_n":\s*(\d+)/.exec(tail)
    const ms = /"predicted_ms":\s*([\d.]+)/.exec(tail)
    const prompt = /"prompt_n":\s*(\d+)/.exec(tail)?.[1]
    const promptTokens = prompt === undefined ? {} : { promptTokens: Number(prompt) }
    if (n?.[1] && ms?.[1]) return { tokens: Number(n[1]), ms: Number(ms[1]), ...promptTokens }
    return { ms: elapsedMs, ...promptTokens }
  }
}
