/**
 * Validate an OpenAI request body and turn it into a RouteRequest. Shared by the HTTP
 * routes and by requests forwarded from peers, so both are checked the same way.
 */
import { HerdError } from '../errors/index.ts'
import type { ModelCatalog } from '../router/catalog.ts'
import type { Endpoint, RouteRequest } from '../router/types.ts'
import { clip } from './clip.ts'

/** Upstream path per endpoint (llama-server's OpenAI-compatible paths). */
export const ENDPOINT_PATHS: Record<Endpoint, string> = {
  chat: '/v1/chat/completions',
  completions: '/v1/completions',
  embeddings: '/v1/embeddings',
  rerank: '/v1/rerank',
}

/** Every path a client may use, including llama.cpp's rerank aliases. */
export const ENDPOINT_BY_PATH: Record<string, Endpoint> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/rerank': 'rerank',
  '/v1/reranking': 'rerank',
  '/rerank': 'rerank',
}

export interface PrepareInput {
  endpoint: Endpoint
  body: Buffer
  requestId: string
  hops: number
  accept: string | undefined
  signal: AbortSignal
  /** The mesh-wide wait bound a forwarding peer set (epoch ms, this node's clock). */
  deadline?: number
}

export function prepareRoute(catalog: ModelCatalog, input: PrepareInput): RouteRequest {
  const parsed = parseJsonObject(input.body)
  const requested = parsed['model']
  if (requested !== undefined && (typeof requested !== 'string' || requested.trim() === '')) {
    throw new HerdError('invalid_request', "'model' must be a non-empty string", { param: 'model' })
  }
  const profileId = catalog.resolve(requested)
  if (profileId === undefined) {
    if (requested === undefined) throw new HerdError('invalid_request', "request has no 'model' and no default_model is set", { param: 'model' })
    throw new HerdError('model_not_found', `model '${clip(requested)}' does not exist on any node`, { param: 'model' })
  }
  const caps = catalog.capabilities(profileId)
  if (caps && !supports(caps, input.endpoint)) {
    throw new HerdError('unsupported_endpoint', `model '${profileId}' does not serve ${ENDPOINT_PATHS[input.endpoint]} (${describe(caps)})`, { param: 'model' })
  }
  if (parsed['stream'] !== undefined && typeof parsed['stream'] !== 'boolean') {
    throw new HerdError('invalid_request', "'stream' must be a boolean", { param: 'stream' })
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (input.accept) headers['accept'] = input.accept
  return {
    requestId: input.requestId,
    endpoint: input.endpoint,
    path: ENDPOINT_PATHS[input.endpoint],
    profileId,
    body: input.body,
    stream: parsed['stream'] === true,
    hops: input.hops,
    headers,
    signal: input.signal,
    receivedAt: performance.now(),
    ...(input.deadline === undefined ? {} : { deadline: input.deadline }),
  }
}

/** A request body as a JSON object, or the right 400 (invalid_json / invalid_request). */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch (err: unknown) {
    throw new HerdError('invalid_json', `request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HerdError('invalid_request', 'request body must be a JSON object')
  }
  return value as Record<string, unknown>
}

function supports(caps: { completion: boolean; embeddings: boolean; rerank: boolean }, endpoint: Endpoint): boolean {
  if (endpoint === 'embeddings') return caps.embeddings
  if (endpoint === 'rerank') return caps.rerank
  return caps.completion
}

function describe(caps: { completion: boolean; embeddings: boolean; rerank: boolean }): string {
  const served = [caps.completion && 'completions', caps.embeddings && 'embeddings', caps.rerank && 'rerank'].filter(Boolean)
  return `it serves ${served.join(' and ') || 'nothing'}`
}
