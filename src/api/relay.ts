/**
 * Send an upstream response to the client: head first, then the body chunk by chunk as it
 * arrives (pipe() keeps backpressure: a slow client slows the upstream read, nothing is
 * buffered whole). A failure after the head cannot change the status any more: an SSE
 * stream ends with an error event, any other body is cut off.
 */
import { PassThrough, type Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { toHerdError } from './errors.ts'
import type { UpstreamResponse } from '../router/types.ts'

export function relay(reply: FastifyReply, res: UpstreamResponse, onDone?: (err: Error | undefined) => void): FastifyReply {
  reply.code(res.status)
  for (const [k, v] of Object.entries(res.headers)) reply.header(k, v)
  reply.header('x-herd-node', res.servedBy)
  const sse = (res.headers['content-type'] ?? '').includes('text/event-stream')
  if (sse) reply.header('cache-control', 'no-cache')
  return reply.send(guard(res.body, sse, onDone))
}

/** Wrap the upstream body so a mid-stream failure ends the response the right way. */
function guard(body: Readable, sse: boolean, onDone?: (err: Error | undefined) => void): Readable {
  const out = new PassThrough()
  let done = false
  const finish = (err: Error | undefined): void => {
    if (done) return
    done = true
    onDone?.(err)
  }
  body.on('error', (err: Error) => {
    if (out.destroyed) return finish(err)
    if (sse) {
      const envelope = toHerdError(err).toEnvelope()
      out.end(`data: ${JSON.stringify(envelope)}\n\n`)
    } else {
      out.destroy(err)
    }
    finish(err)
  })
  body.on('end', () => finish(undefined))
  // The client went away: stop reading upstream (which aborts it and frees the slot).
  out.on('close', () => {
    if (!body.destroyed) body.destroy()
    finish(done ? undefined : new Error('client disconnected'))
  })
  body.pipe(out)
  return out
}
