/**
 * Loading status for streaming clients. While a `stream: true` request waits for its answer's
 * head (a cold start, a queue, a peer doing either) longer than `afterMs`, the 200 head goes
 * out as an event stream and an SSE comment line says what the request waits on, about every
 * `everyMs`:
 *
 *   : herd: loading qwen:default on gpu-box-2 (4.1 s)
 *
 * SSE clients (OpenAI's and Anthropic's SDKs among them) skip comment lines, and the bytes
 * keep idle-timeout proxies from cutting the wait. A request answered within `afterMs` sees
 * none of this. Once the head is out its status cannot change: the answer's body follows in
 * the same stream, and a failure ends it with an SSE error event in the route's shape. The
 * router still tries the next candidate until an answer's head arrives, so a retry that
 * succeeds continues the same stream.
 */
import { PassThrough } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { HerdError, sseErrorEvent, type ErrorShape } from '../errors/index.ts'
import { readCapped } from '../router/index.ts'
import type { OnWaiting, UpstreamResponse, WaitStatus } from '../router/types.ts'
import { clip } from './clip.ts'
import { headerSafe, pipeGuarded } from './relay.ts'

export interface LoadingInit {
  /** How long a request waits before its head goes out with the first comment. @default 1000 */
  afterMs?: number
  /** Between two comments. @default 1000 */
  everyMs?: number
}

/** An error answer that arrives after the head is read this far, and this long, for the error event. */
const MAX_ERROR_BODY_BYTES = 64 * 1024
const ERROR_BODY_TIMEOUT_MS = 2_000

export class LoadingStatus {
  private readonly reply: FastifyReply
  private readonly o: { model: string; nodeName: string; startedAt: number; afterMs: number; everyMs: number }
  private status: (() => WaitStatus) | undefined
  private timer: NodeJS.Timeout | undefined
  private out: PassThrough | undefined
  private stopped = false

  constructor(reply: FastifyReply, o: { model: string; nodeName: string; startedAt: number } & LoadingInit) {
    this.reply = reply
    this.o = { ...o, afterMs: o.afterMs ?? 1_000, everyMs: o.everyMs ?? 1_000 }
  }

  /** For RouteRequest.onWaiting: the latest view of what the request waits on. */
  readonly onWaiting: OnWaiting = (status) => {
    this.status = status
  }

  start(): void {
    if (this.timer === undefined && !this.stopped) this.timer = setTimeout(this.tick, this.o.afterMs)
  }

  /** No more comments (the answer's head arrived, or the request failed). */
  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** The event stream whose head already went, or undefined (the answer goes out as usual). */
  get stream(): PassThrough | undefined {
    return this.out
  }

  private readonly tick = (): void => {
    this.timer = undefined
    if (this.stopped) return
    const status = this.read()
    const out = this.out ?? this.commit(status)
    if (out.destroyed) return
    // A client that reads nothing gets no pile of comments: the next one waits for it.
    if (!out.writableNeedDrain) out.write(`: herd: ${describe(status, this.o.model, performance.now() - this.o.startedAt)}\n\n`)
    this.timer = setTimeout(this.tick, this.o.everyMs)
  }

  private commit(status: WaitStatus | undefined): PassThrough {
    const out = new PassThrough()
    this.out = out
    // The node being waited on when the head goes; a retry elsewhere cannot change it any more.
    void this.reply
      .code(200)
      .header('content-type', 'text/event-stream')
      .header('cache-control', 'no-cache')
      .header('x-herd-node', headerSafe(status?.node ?? this.o.nodeName))
      .send(out)
    return out
  }

  private read(): WaitStatus | undefined {
    try {
      return this.status?.()
    } catch {
      return undefined
    }
  }
}

/** The comment's text: what the request waits on, and for how long. */
export function describe(status: WaitStatus | undefined, model: string, elapsedMs: number): string {
  const secs = `(${(elapsedMs / 1000).toFixed(1)} s)`
  if (status === undefined) return `waiting for ${clean(model)} ${secs}`
  const on = `${clean(status.model)} on ${clean(status.node)}`
  switch (status.kind) {
    case 'loading':
      return `loading ${on} ${secs}`
    case 'queued':
      return `queued for ${on}, ${status.ahead === 0 ? 'next in line' : `${status.ahead} ahead`} ${secs}`
    case 'waiting':
      return `waiting for ${on} ${secs}`
  }
}

/** A name inside a comment line: no line breaks or other control characters (they would end the comment), bounded. */
function clean(text: string): string {
  return clip(text.replace(/\p{Cc}/gu, '?'))
}

/** The answer's head arrived after the stream's head went: its body follows; an error answer becomes the error event. */
export function continueStream(out: PassThrough, res: UpstreamResponse, shape: ErrorShape): void {
  if (res.status >= 200 && res.status < 300) {
    pipeGuarded(res.body, out, true, shape)
    return
  }
  void readCapped(res.body, MAX_ERROR_BODY_BYTES, ERROR_BODY_TIMEOUT_MS).then((text) => {
    if (!out.destroyed) out.end(answerAsEvent(res.status, text, shape))
  })
}

/** A failure after the stream's head went: the last event says why. */
export function failStream(out: PassThrough, err: unknown, shape: ErrorShape): void {
  if (!out.destroyed) out.end(sseErrorEvent(err, shape))
}

/**
 * llama-server's own error answer (a body it rejects), as an event: its JSON relayed as the
 * event's data when it is an error body of the route's shape, else herd's upstream_error
 * quoting its message.
 */
function answerAsEvent(status: number, text: string, shape: ErrorShape): string {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  const body = typeof parsed === 'object' && parsed !== null ? (parsed as { type?: unknown; error?: unknown }) : undefined
  const error = typeof body?.error === 'object' && body.error !== null ? (body.error as { message?: unknown }) : undefined
  if (error !== undefined && (shape === 'openai' || body?.type === 'error')) {
    const data = JSON.stringify(body)
    return shape === 'anthropic' ? `event: error\ndata: ${data}\n\n` : `data: ${data}\n\n`
  }
  const message = typeof error?.message === 'string' ? error.message : text.trim()
  return sseErrorEvent(new HerdError('upstream_error', `llama-server answered ${status}${message ? `: ${clip(message, 1024)}` : ''}`), shape)
}
