/**
 * Serve a request on this node: take a slot lease from the supervisor and proxy the body
 * to that llama-server with undici, handing back the response head as soon as it arrives
 * and the body as a stream. The lease is released when the body ends, fails or is dropped.
 */
import { Transform, type TransformCallback } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Logger } from 'pino'
import { HerdError, sseErrorEvent, type ErrorShape } from '../errors/index.ts'
import type { ProfileSpec } from '../config/types.ts'
import type { AcquireOptions, Lease } from '../instances/types.ts'
import { startDeadline } from './deadline.ts'
import { relayableHeaders } from './headers.ts'
import type { RouteRequest, UpstreamResponse } from './types.ts'

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
    lease = await c.instances.acquire(profile, {
      signal: deadline.signal,
      requestId: req.requestId,
      ...(req.deadline === undefined ? {} : { deadline: req.deadline }),
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
    await settleCrash(lease, deadline.signal)
    unlisten()
    lease.release()
    throw deadline.timedOut ?? upstreamFailure(err, req, lease, profile)
  }
  const headers = relayableHeaders(res.headers, { trustLength: true })
  const sse = (headers['content-type'] ?? '').includes('text/event-stream')
  const body = res.body.pipe(new TimingsTap())
  let released = false
  const release = (): void => {
    if (released) return
    released = true
    unlisten()
    const result = body.result(performance.now() - started)
    lease.release(result)
    c.onCompleted?.(profile.id, result)
  }
  res.body.once('error', (err: Error) => {
    void settleCrash(lease, deadline.signal).then(() => {
      const failure = deadline.timedOut ?? upstreamFailure(err, req, lease, profile)
      // The head is gone already: an event stream ends with an error event, other bodies are cut off.
      if (sse && !body.destroyed && !req.signal.aborted) body.end(sseError(failure, req.errorShape))
      else body.destroy(failure)
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
 * Passes bytes through untouched while keeping the tail of the body, where llama-server
 * puts its `timings` (tokens generated and time taken): that is how herd learns a rate
 * without parsing every event.
 */
class TimingsTap extends Transform {
  private tail = ''

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.tail = (this.tail + chunk.toString('latin1')).slice(-4096)
    done(null, chunk)
  }

  result(elapsedMs: number): { tokens?: number; ms?: number; promptTokens?: number } {
    const n = /"predicted_n":\s*(\d+)/.exec(this.tail)
    const ms = /"predicted_ms":\s*([\d.]+)/.exec(this.tail)
    const prompt = /"prompt_n":\s*(\d+)/.exec(this.tail)?.[1]
    const promptTokens = prompt === undefined ? {} : { promptTokens: Number(prompt) }
    if (n?.[1] && ms?.[1]) return { tokens: Number(n[1]), ms: Number(ms[1]), ...promptTokens }
    return { ms: elapsedMs, ...promptTokens }
  }
}
