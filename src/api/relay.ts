/**
 * Send an upstream response to the client: head first, then the body chunk by chunk as it
 * arrives (pipe() keeps backpressure: a slow client slows the upstream read, nothing is
 * buffered whole). A failure after the head cannot change the status any more: an SSE
 * stream ends with an error event (in the shape the route's clients parse), any other
 * body is cut off. Bodies that already end that way (local llama-server answers) go out
 * as they are: one stream less per chunk.
 */
import { PassThrough, type Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { sseErrorEvent, type ErrorShape } from '../errors/index.ts'
import type { UpstreamResponse } from '../router/types.ts'
import { errorShapeOf } from './errors.ts'

export function relay(reply: FastifyReply, res: UpstreamResponse, onDone?: (err: Error | undefined) => void): FastifyReply {
  reply.code(res.status)
  const headers = res.headers
  // for…in over a plain object: no array of [name, value] pairs per answer.
  for (const k in headers) reply.header(k, headers[k] as string)
  reply.header('x-herd-node', headerSafe(res.servedBy))
  const sse = (res.headers['content-type'] ?? '').includes('text/event-stream')
  if (sse) reply.header('cache-control', 'no-cache')
  const body = res.guarded ? res.body : guard(res.body, sse, errorShapeOf(reply.request))
  if (onDone) watchEnd(body, onDone)
  return reply.send(body)
}

/** Wrap an unguarded body (from a peer) so a mid-stream failure ends the response the right way. */
function guard(body: Readable, sse: boolean, shape: ErrorShape): Readable {
  const out = new PassThrough()
  pipeGuarded(body, out, sse, shape)
  return out
}

/**
 * Pipe `body` into `out` (backpressure kept): a failure of `body` ends an event stream with
 * an error event and cuts any other body off; `out` going away (the client left) destroys
 * `body`, which aborts its upstream.
 */
export function pipeGuarded(body: Readable, out: PassThrough, sse: boolean, shape: ErrorShape): void {
  if (out.destroyed) {
    body.destroy()
    return
  }
  body.on('error', (err: Error) => {
    if (out.destroyed) return
    if (sse) out.end(sseErrorEvent(err, shape))
    else out.destroy(err)
  })
  // The client went away: stop reading upstream (which aborts it and frees the slot).
  out.on('close', () => {
    if (!body.destroyed) body.destroy()
  })
  body.pipe(out)
}

/** Calls `onDone` once: no error when the body ended, else why it stopped early. */
export function watchEnd(body: Readable, onDone: (err: Error | undefined) => void): void {
  if (body.destroyed) {
    onDone(new Error('client disconnected'))
    return
  }
  let done = false
  const finish = (err: Error | undefined): void => {
    if (done) return
    done = true
    onDone(err)
  }
  body.once('end', () => finish(undefined))
  body.once('error', (err: Error) => finish(err))
  // 'close' follows 'end' on every body: the error (its stack costs tens of µs) only for one that closed first.
  body.once('close', () => {
    if (!done) finish(new Error('client disconnected'))
  })
}

const UNSAFE = /[^\x20-\x7e]/
const UNSAFE_ALL = /[^\x20-\x7e]/g

/** A node name (a peer's, from the mesh) as a header value: Node refuses control bytes in one, which would fail the whole answer. */
export function headerSafe(name: string): string {
  return UNSAFE.test(name) ? name.replace(UNSAFE_ALL, '?') : name
}
