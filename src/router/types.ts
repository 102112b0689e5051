/**
 * The seam between the HTTP surface, the local supervisor and the mesh: a request as the
 * router sees it, and a response head plus a streaming body as every target returns it.
 */
import type { RouteStrategy } from '../config/types.ts'
import type { Readable } from 'node:stream'
import type { ErrorShape } from '../errors/index.ts'
import type { TraceSpan } from '../telemetry/index.ts'
import type { TailFields } from './tail-fields.ts'

/** The llama-server endpoints herd routes by model (paths and capabilities: src/api/endpoints.ts). */
export type Endpoint =
  | 'chat'
  | 'chat_input_tokens'
  | 'completions'
  | 'responses'
  | 'responses_input_tokens'
  | 'messages'
  | 'messages_count_tokens'
  | 'infill'
  | 'apply_template'
  | 'embeddings'
  | 'rerank'
  | 'tokenize'
  | 'detokenize'
  | 'props'

export interface RouteRequest {
  /**
   * Other models that may serve it, tried after `profileId` fails before the first byte: a
   * route's other candidates, or the model's `fallbacks` (only on the node the client asked).
   */
  alternatives?: readonly string[] | undefined
  /** How `profileId` and `alternatives` are ordered (a route's strategy). Default first-available. */
  strategy?: RouteStrategy | undefined
  requestId: string
  endpoint: Endpoint
  /** Method sent upstream and to a peer; default POST (GET carries no body). */
  method?: 'GET' | 'POST'
  /** Path sent upstream, e.g. `/v1/chat/completions`; a GET carries its `model` in the query (`/props?model=…`) so a peer can route it. */
  path: string
  /** `model:profile` the request resolved to. */
  profileId: string
  /** The raw JSON body bytes, sent on verbatim (the `model` field rewritten to what the target expects is not needed: llama-server ignores it). */
  body: Buffer
  stream: boolean
  /** How many nodes already forwarded this request. A forwarded request is served locally. */
  hops: number
  /** Headers worth passing on (content-type, accept, traceparent). */
  headers: Record<string, string>
  signal: AbortSignal
  /** The error body its clients parse, also for an SSE error event after the head; default openai. */
  errorShape?: ErrorShape
  /** `x-herd-no-egress`: never send it to a backend outside the network (`egress: true`). */
  noEgress?: boolean
  /** `performance.now()` when this node received it; a profile's `max_request_duration_ms` counts from here. Undefined: from when it is served. */
  receivedAt?: number
  /** The `model` the client sent, as sent (absent: the default model). Tenant keys' model lists match it. */
  model?: string | undefined
  /** The cookbook route the client named, when `model` is one. */
  routeName?: string | undefined
  /** The output cap the client set (`max_tokens`, `max_completion_tokens`, `max_output_tokens`), for token-limit estimates. */
  maxTokens?: number | undefined
  /**
   * Epoch ms: the mesh-wide bound on waiting for this request (admission and queue), set
   * by the node the client asked and carried to peers as the time left (`x-herd-wait-ms`). Absent: the router sets it.
   */
  deadline?: number
  /**
   * Told, while the request waits for its response head, what it waits on; the thunk is
   * read when the status is shown (about once a second), so a target hands over a live
   * view once instead of pushing every change. The api turns it into SSE comments for a
   * streaming client; a peer carries it back in its keep-alive frames.
   */
  onWaiting?: OnWaiting
  /** The span this step's spans are children of (telemetry); absent when tracing is off or the request is not traced. */
  trace?: TraceSpan
  /** The object `parsedFrom` (the body as validated) was parsed into; read through parsedBodyOf, which checks the body is still that one. */
  parsedBody?: Readonly<Record<string, unknown>>
  parsedFrom?: Buffer
}

/**
 * What a request waits on before its response head: a node (not known to be loading or
 * queueing), a cold start (`loading`), or its turn in a queue (`queued`, with how many
 * are ahead). This much travels between nodes.
 */
export type WaitState = { kind: 'waiting' } | { kind: 'loading' } | { kind: 'queued'; ahead: number }

/** A WaitState with the `model:profile` and the name of the node it waits on. */
export type WaitStatus = WaitState & { model: string; node: string }

export type OnWaiting = (status: () => WaitStatus) => void

/** A response whose head has arrived; the body streams. */
/** Bytes of the end of a body a tail-keeping body keeps (for timings and usage). */
export const TAIL_BYTES = 8192

/**
 * A body that keeps its own last bytes as they pass (the local target's): who needs the
 * tail (the tenant usage meter) asks it, instead of piping the body through a tap of its own.
 */
export interface TailKeepingBody extends Readable {
  /** Called once the body is closed: with the fields of (about) its last TAIL_BYTES when it ended, undefined when it failed or was dropped first. */
  whenEnded(listener: (tail: TailFields | undefined) => void): void
  /** Have `filter` change the bytes from now on (the tail keeps them as they came); false when bytes were passed on already. */
  filterWith(filter: ChunkFilter): boolean
}

/** Changes the bytes of a body on their way: what to pass on for a chunk, and at the end. */
export interface ChunkFilter {
  push(chunk: Buffer): Buffer | undefined
  end(): Buffer | undefined
}

export function keepsTail(body: Readable): body is TailKeepingBody {
  return typeof (body as Partial<TailKeepingBody>).whenEnded === 'function'
}

export interface UpstreamResponse {
  status: number
  headers: Record<string, string>
  body: Readable
  /** Name of the node that served it (for x-herd-node). */
  servedBy: string
  /**
   * The body already ends the right way on failure (an SSE error event, or destroyed with a
   * HerdError), so the relay may send it as is, without a guard stream of its own.
   */
  guarded?: boolean
}

/**
 * The JSON object a request body was parsed into when it was validated (api/prepare.ts),
 * carried on the request with the Buffer it came from: who needs its fields later in the
 * same request (the tenant meter's include_usage) reads them here instead of parsing the
 * same bytes again. A body replaced by another Buffer (a conversion, a rewrite) has none:
 * the copy of the request still carries the old pair, and the Buffers differ. Two plain
 * fields, not a WeakMap keyed by the Buffer: a WeakMap entry is an ephemeron, which every
 * garbage collection pays for.
 */
export function rememberParsedBody(route: RouteRequest, parsed: Readonly<Record<string, unknown>>): RouteRequest {
  route.parsedBody = parsed
  route.parsedFrom = route.body
  return route
}

export function parsedBodyOf(route: RouteRequest): Readonly<Record<string, unknown>> | undefined {
  return route.parsedFrom !== undefined && route.parsedFrom === route.body ? route.parsedBody : undefined
}
