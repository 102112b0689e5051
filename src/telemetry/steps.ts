/**
 * The steps of a request as spans, for the call sites in the api, router and local target.
 * Every helper takes the parent (or the span) as possibly undefined and then does nothing
 * but the work itself: with tracing off a call site costs one branch and no allocation.
 */
import type { Readable } from 'node:stream'
import type { AcquireOptions, Lease, QueueWait } from '../instances/types.ts'
import { ATTR } from './attributes.ts'
import { SPAN, type TraceSpan } from './types.ts'

/** A response as the steps see it (the router's UpstreamResponse fits). */
interface Answer {
  status: number
  headers: Record<string, string>
  body: Readable
  servedBy: string
}

/** The attributes of a request once the api resolved it, and the request carrying its span. */
export function withTrace<R extends { profileId: string; endpoint: string; stream: boolean; requestId: string }>(
  span: TraceSpan,
  req: R,
): R & { trace: TraceSpan } {
  span.set(ATTR.model, req.profileId)
  span.set(ATTR.endpoint, req.endpoint)
  span.set(ATTR.stream, req.stream)
  span.set(ATTR.requestId, req.requestId)
  return { ...req, trace: span }
}

/** The route span's attributes: every candidate considered, best first. */
export function routeAttributes(
  profileId: string,
  candidates: readonly { nodeId: string; local: boolean; tier: number; name?: string }[],
  localName: string,
): Record<string, string | number | string[]> {
  return {
    [ATTR.model]: profileId,
    [ATTR.candidateCount]: candidates.length,
    [ATTR.candidates]: candidates.map((c) => `${c.local ? localName : (c.name ?? c.nodeId)}:${c.tier}`),
  }
}

/** Note a candidate being tried on the route span. */
export function attempting(route: TraceSpan | undefined, node: string, attempt: number): void {
  if (route === undefined) return
  route.set(ATTR.chosen, node)
  route.set(ATTR.attempts, attempt)
}

/** End `span` when the answer's head arrives (or it fails). Identity when `span` is undefined. */
export function endAtHead<T extends Answer>(span: TraceSpan | undefined, answer: Promise<T>): Promise<T> {
  if (span === undefined) return answer
  return answer.then(
    (res) => {
      describe(span, res)
      span.end()
      return res
    },
    (err: unknown) => {
      endFailed(span, err)
      throw err
    },
  )
}

/** End `span` when the answer's body ends (its last byte), is cut off or fails. Identity when `span` is undefined. */
export function endAtLastByte<T extends Answer>(span: TraceSpan | undefined, answer: Promise<T>): Promise<T> {
  if (span === undefined) return answer
  return answer.then(
    (res) => {
      describe(span, res)
      endWithBody(span, res.body)
      return res
    },
    (err: unknown) => {
      endFailed(span, err)
      throw err
    },
  )
}

/** End the client request's span with what it was answered and how the body ended. */
export function endReceive(span: TraceSpan | undefined, res: Answer, err: Error | undefined): void {
  if (span === undefined) return
  describe(span, res)
  if (err !== undefined) span.fail(err)
  span.end()
}

export function endFailed(span: TraceSpan | undefined, err: unknown): void {
  if (span === undefined) return
  span.fail(err)
  span.end()
}

function describe(span: TraceSpan, res: Answer): void {
  span.set(ATTR.httpStatus, res.status)
  span.set(ATTR.servedBy, res.servedBy)
  // An error envelope (a refusal relayed from a peer, or answered here) fails the step.
  const code = res.headers['x-herd-error']
  if (code !== undefined || res.status >= 500) span.fail({ code: code ?? `http_${res.status}` })
}

function endWithBody(span: TraceSpan, body: Readable): void {
  if (body.destroyed) {
    endFailed(span, { code: 'aborted' })
    return
  }
  let done = false
  const finish = (err: unknown): void => {
    if (done) return
    done = true
    if (err !== undefined) span.fail(err)
    span.end()
  }
  body.once('end', () => finish(undefined))
  body.once('error', (err: Error) => finish(err))
  // Closed before its end: the consumer went away (a client disconnect) or it was cut off.
  body.once('close', () => finish(body.readableEnded ? undefined : { code: 'aborted' }))
}

/** The part of the supervisor acquire needs. */
interface Acquirer<P> {
  acquire(profile: P, options: AcquireOptions): Promise<Lease>
}

/**
 * A slot lease, with the queue span around the wait for it and, when the request waits on
 * a cold start, the spawn span inside. The supervisor runs synchronously up to queueing
 * the request and starting instances for the line, so what the waiter waits on is known
 * as soon as acquire() returns its promise.
 */
export function acquire<P extends { id: string }>(parent: TraceSpan | undefined, instances: Acquirer<P>, profile: P, options: AcquireOptions): Promise<Lease> {
  if (parent === undefined) return instances.acquire(profile, options)
  const queue = parent.child(SPAN.queue, { [ATTR.model]: profile.id })
  let state: (() => QueueWait) | undefined
  const onWaiting = options.onWaiting
  const leased = instances.acquire(profile, {
    ...options,
    onWaiting: (s) => {
      state = s
      onWaiting?.(s)
    },
  })
  const now = state?.()
  queue.set(ATTR.queued, now !== undefined)
  if (now?.kind === 'queued') queue.set(ATTR.queueAhead, now.ahead)
  const spawn = now?.kind === 'loading' ? queue.child(SPAN.spawn, { [ATTR.model]: profile.id }) : undefined
  return leased.then(
    (lease) => {
      spawn?.set(ATTR.instance, lease.instanceId)
      spawn?.end()
      queue.set(ATTR.instance, lease.instanceId)
      queue.end()
      return lease
    },
    (err: unknown) => {
      endFailed(spawn, err)
      endFailed(queue, err)
      throw err
    },
  )
}

/** The two upstream spans: request → first byte (`herd.upstream`), first → last byte (`herd.upstream.body`). */
export class UpstreamSpans {
  private readonly parent: TraceSpan
  private readonly head: TraceSpan
  private body: TraceSpan | undefined

  constructor(parent: TraceSpan, lease: Lease) {
    this.parent = parent
    const url = URL.parse(lease.baseUrl)
    this.head = parent.child(
      SPAN.upstream,
      {
        [ATTR.instance]: lease.instanceId,
        [ATTR.serverAddress]: url?.hostname,
        [ATTR.serverPort]: url?.port === undefined || url.port === '' ? undefined : Number(url.port),
      },
      'client',
    )
  }

  /** The head arrived: the first byte. */
  answered(status: number): void {
    this.head.set(ATTR.httpStatus, status)
    if (status >= 500) this.head.fail({ code: `http_${status}` })
    this.head.end()
    this.body = this.parent.child(SPAN.upstreamBody)
  }

  failed(err: unknown): void {
    endFailed(this.body ?? this.head, err)
  }

  /** The last byte (or the body's end any other way), with what llama-server reported. */
  done(stats: { tokens?: number; promptTokens?: number }): void {
    const body = this.body
    if (body === undefined) return
    if (stats.tokens !== undefined) body.set(ATTR.completionTokens, stats.tokens)
    if (stats.promptTokens !== undefined) body.set(ATTR.promptTokens, stats.promptTokens)
    body.end()
  }
}

/** The upstream spans of a local request, or undefined when it is not traced. */
export function upstreamSpans(parent: TraceSpan | undefined, lease: Lease): UpstreamSpans | undefined {
  return parent === undefined ? undefined : new UpstreamSpans(parent, lease)
}

/** The span of one attempt on a peer, a child of the route span. */
export function forwardSpan(route: TraceSpan | undefined, peerId: string, peerName: string, hops: number): TraceSpan | undefined {
  return route?.child(SPAN.forward, { [ATTR.peerId]: peerId, [ATTR.peerName]: peerName, [ATTR.hops]: hops }, 'client')
}

/** The forward head's headers with `traceparent` (and `tracestate`) naming `span`; the same object when untraced. */
export function propagate(span: TraceSpan | undefined, headers: Record<string, string>): Record<string, string> {
  return span === undefined ? headers : { ...headers, ...span.propagation() }
}
