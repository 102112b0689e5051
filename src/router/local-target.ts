/**
 * Serve a request on this node: take a slot lease from the supervisor and proxy the body
 * to that llama-server with undici, handing back the response head as soon as it arrives
 * and the body as a stream. The lease is released when the body ends, fails or is dropped.
 */
import type { Dispatcher } from 'undici'
import type { Logger } from 'pino'
import { HerdError, sseErrorEvent, type ErrorShape } from '../errors/index.ts'
import type { ProfileSpec } from '../config/types.ts'
import type { AcquireOptions, Lease } from '../instances/types.ts'
import { startDeadline } from './deadline.ts'
import { relayableHeaders } from './headers.ts'
import { LocalBody, type UpstreamHead } from './local-body.ts'
import type { RouteRequest, UpstreamResponse } from './types.ts'
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
  // The body is undici's dispatch handler too (local-body.ts): the client leaving, the
  // deadline and the instance exiting abort it directly, through listeners removed on release.
  const body = new LocalBody()
  const onClientAbort = (): void => body.abort(abortReason(deadline.signal))
  const onExit = (): void => body.abort(abortReason(lease.exited))
  deadline.signal.addEventListener('abort', onClientAbort, { once: true })
  lease.exited.addEventListener('abort', onExit, { once: true })
  if (deadline.signal.aborted) onClientAbort()
  const unlisten = (): void => {
    deadline.signal.removeEventListener('abort', onClientAbort)
    lease.exited.removeEventListener('abort', onExit)
    deadline.clear()
  }
  const started = performance.now()
  const spans = upstreamSpans(req.trace, lease)
  c.dispatcher.dispatch(
    {
      origin: lease.baseUrl,
      path: req.path,
      method: req.method ?? 'POST',
      headers: { 'content-type': 'application/json', accept: req.headers['accept'] ?? '*/*', 'x-request-id': req.requestId },
      body: req.method === 'GET' ? null : req.body,
      // Prompt processing of a long prompt happens before the head of a non-streaming answer.
      headersTimeout: 600_000,
      // The gap between two tokens; a stalled server is given up on.
      bodyTimeout: 300_000,
    },
    body,
  )
  let head: UpstreamHead
  try {
    head = await body.head
  } catch (err: unknown) {
    spans?.failed(err)
    await settleCrash(lease, deadline.signal)
    unlisten()
    lease.release()
    throw deadline.timedOut ?? upstreamFailure(err, req, lease, profile)
  }
  spans?.answered(head.status)
  const headers = relayableHeaders(head.headers, { trustLength: true })
  const sse = (headers['content-type'] ?? '').includes('text/event-stream')
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
  body.onUpstreamFailure((err: Error) => {
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
  // The consumer went away (client disconnect): the body's destroy aborted the upstream request.
  body.once('close', release)
  return { status: head.status, headers, body, servedBy: c.nodeName, guarded: true }
}

/** A signal's abort reason as an Error (undici takes it as the request's failure). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  return reason instanceof Error ? reason : new Error('aborted')
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
