/**
 * The llama-server endpoints herd routes by model, in one table: the paths a client may
 * use, the path llama-server serves it on, the method, which profiles serve it and which
 * error body its clients parse. The HTTP routes, the forward handler, the capability
 * check and /v1/models all read it, so they cannot disagree.
 *
 * What a profile serves is derived from its capabilities (completion / embeddings /
 * rerank), which every node already gossips: adding an endpoint needs no wire change.
 */
import type { Capabilities } from '../config/types.ts'
import type { ErrorShape } from '../errors/index.ts'
import type { Endpoint } from '../router/types.ts'

/**
 * Who serves an endpoint: `completion` profiles (text generation and what builds on it:
 * templates, token counts of chat bodies, infill), `embeddings` or `rerank` profiles, or
 * `any` profile (the tokenizer and server properties exist on every llama-server).
 */
export type ServedBy = 'completion' | 'embeddings' | 'rerank' | 'any'

export interface EndpointSpec {
  /** Paths a client may use; the first is the one /v1/models lists. */
  readonly paths: readonly string[]
  /** llama-server's path for it. */
  readonly upstream: string
  readonly method: 'GET' | 'POST'
  readonly servedBy: ServedBy
  readonly errorShape: ErrorShape
}

const post = (path: string, servedBy: ServedBy, errorShape: ErrorShape = 'openai', aliases: string[] = []): EndpointSpec => ({
  paths: [path, ...aliases],
  upstream: path,
  method: 'POST',
  servedBy,
  errorShape,
})

/** Every endpoint herd routes, in the order /v1/models lists them. */
export const ENDPOINTS: Readonly<Record<Endpoint, EndpointSpec>> = {
  chat: post('/v1/chat/completions', 'completion'),
  chat_input_tokens: post('/v1/chat/completions/input_tokens', 'completion'),
  completions: post('/v1/completions', 'completion'),
  responses: post('/v1/responses', 'completion'),
  responses_input_tokens: post('/v1/responses/input_tokens', 'completion'),
  messages: post('/v1/messages', 'completion', 'anthropic'),
  messages_count_tokens: post('/v1/messages/count_tokens', 'completion', 'anthropic'),
  infill: post('/infill', 'completion'),
  apply_template: post('/apply-template', 'completion'),
  embeddings: post('/v1/embeddings', 'embeddings'),
  // llama.cpp's own aliases for rerank.
  rerank: post('/v1/rerank', 'rerank', 'openai', ['/v1/reranking', '/rerank']),
  tokenize: post('/tokenize', 'any'),
  detokenize: post('/detokenize', 'any'),
  // One model's llama-server properties: GET /props?model=… (the model is in the query).
  props: { paths: ['/props'], upstream: '/props', method: 'GET', servedBy: 'any', errorShape: 'openai' },
}

/** Endpoints whose `stream: true` answer is an event stream: a wait for them shows as SSE comments (loading.ts). */
export const STREAMING: ReadonlySet<Endpoint> = new Set<Endpoint>(['chat', 'completions', 'responses', 'messages', 'infill'])

/** Upstream path per endpoint. */
export const ENDPOINT_PATHS: Readonly<Record<Endpoint, string>> = Object.fromEntries(
  Object.entries(ENDPOINTS).map(([endpoint, spec]) => [endpoint, spec.upstream]),
) as Record<Endpoint, string>

/** Every path a client (or a peer) may use, to its endpoint. */
export const ENDPOINT_BY_PATH: Readonly<Record<string, Endpoint>> = Object.fromEntries(
  Object.entries(ENDPOINTS).flatMap(([endpoint, spec]) => spec.paths.map((p) => [p, endpoint])),
) as Record<string, Endpoint>

/** Whether a profile with these capabilities serves the endpoint. */
export function serves(caps: Capabilities, endpoint: Endpoint): boolean {
  const by = ENDPOINTS[endpoint].servedBy
  return by === 'any' || caps[by]
}

/** The paths a profile serves (one per endpoint), for /v1/models and refusal messages. */
export function servedPaths(caps: Capabilities): string[] {
  return (Object.keys(ENDPOINTS) as Endpoint[]).filter((e) => serves(caps, e)).map((e) => ENDPOINTS[e].paths[0] ?? ENDPOINTS[e].upstream)
}
