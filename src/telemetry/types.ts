/**
 * The tracing seam the api, router and mesh see. With `telemetry.otlp_endpoint` unset the
 * daemon hands them `NO_TRACING`, whose `receive*` answer undefined: no span, no context
 * and nothing allocated per request. A span that exists rides on the RouteRequest
 * (`trace`), so every step below it is `req.trace?.…`: one branch when off.
 */

/** Span names (SPEC "Telemetry"): low cardinality, the same on every node. */
export const SPAN = {
  /** An HTTP request a client sent to this node, head to last byte. */
  receive: 'herd.receive',
  /** Choosing a node among the candidates, until one answered with a head (or all failed). */
  route: 'herd.route',
  /** One attempt on a peer over the mesh, until the last byte of its answer. */
  forward: 'herd.forward',
  /** On the peer: the forwarded request, head to last byte. */
  receiveForwarded: 'herd.forward.receive',
  /** Waiting for a slot on a ready llama-server (instant when one is free). */
  queue: 'herd.queue',
  /** Waiting for a cold start of llama-server, inside the queue span. */
  spawn: 'herd.spawn',
  /** The request to llama-server until its response head: the upstream's first byte. */
  upstream: 'herd.upstream',
  /** From llama-server's first byte to its last. */
  upstreamBody: 'herd.upstream.body',
} as const

export type SpanName = (typeof SPAN)[keyof typeof SPAN]

export type SpanValue = string | number | boolean | readonly string[]
export type SpanAttributes = Readonly<Record<string, SpanValue | undefined>>

/** One span, as call sites use it. Every method is cheap and never throws. */
export interface TraceSpan {
  /** A child span, started now. `client`: a call to another process (a peer, llama-server). */
  child(name: SpanName, attributes?: SpanAttributes, kind?: 'client' | 'internal'): TraceSpan
  set(key: string, value: SpanValue): void
  /** Mark the span failed (status error, `error.type` = the HerdError code or the error's name); it still needs end(). */
  fail(err: unknown): void
  /** End the span (idempotent), now or at a `performance.now()` time. */
  end(atMs?: number): void
  /** `traceparent` (and `tracestate`) naming this span as the parent, for a forward head. */
  propagation(): Record<string, string>
}

/** What a request looks like to `receive` (fastify's request fits). */
export interface ReceivedRequest {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

/** What a forwarded request looks like to `receiveForwarded` (the mesh's ForwardRequest fits). */
export interface ForwardedRequest {
  readonly requestId: string
  readonly method: string
  readonly path: string
  readonly hops: number
  readonly headers: Readonly<Record<string, string>>
}

export interface Tracing {
  /** Whether spans are made at all. */
  readonly enabled: boolean
  /** The span of a client's request (its valid `traceparent` is the parent); undefined when off. `startedAtMs`: `performance.now()` when it arrived. */
  receive(request: ReceivedRequest, startedAtMs?: number): TraceSpan | undefined
  /** The span of a request a peer forwarded (the head's `traceparent` is the parent); undefined when off. */
  receiveForwarded(request: ForwardedRequest): TraceSpan | undefined
  start(): Promise<void>
  /** Export what is queued (bounded by `timeoutMs`), then stop. Idempotent. */
  stop(options?: { timeoutMs?: number }): Promise<void>
}

/** Tracing off: nothing is made, nothing is exported. */
export const NO_TRACING: Tracing = Object.freeze({
  enabled: false,
  receive: () => undefined,
  receiveForwarded: () => undefined,
  start: () => Promise.resolve(),
  stop: () => Promise.resolve(),
})
