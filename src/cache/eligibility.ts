/**
 * Which requests the cache may answer. A cached answer is only right for a request whose
 * answer does not vary: greedy decoding (`temperature: 0`), a fixed `seed`, or an endpoint
 * that is deterministic by nature (embeddings). A client may ask for the cache on any
 * request (`x-herd-cache: use`: "an earlier answer is fine") or keep one out of it
 * (`x-herd-cache: off`: never looked up, never stored).
 */
import { HerdError } from '../errors/index.ts'
import type { Endpoint } from '../router/types.ts'

/** The request header a client steers the cache with, and that answers carry. */
export const CACHE_HEADER = 'x-herd-cache'

/** `default`: the rules below; `use`: any request of a cached endpoint; `off`: none. */
export type CacheMode = 'default' | 'use' | 'off'

/** Endpoints whose answers are cached: the generating ones, and embeddings. */
export const CACHED_ENDPOINTS: ReadonlySet<Endpoint> = new Set<Endpoint>(['chat', 'completions', 'responses', 'messages', 'embeddings'])

/** Endpoints cached without asking: the same input always gives the same output. */
const DETERMINISTIC: ReadonlySet<Endpoint> = new Set<Endpoint>(['embeddings'])

/** The client's `x-herd-cache` header; another value is a 400 naming the header, so a typo never means "use". */
export function parseCacheMode(header: string | string[] | undefined): CacheMode {
  if (header === undefined) return 'default'
  const value = (Array.isArray(header) ? header.join(',') : header).trim().toLowerCase()
  if (value === 'use' || value === 'off') return value
  throw new HerdError('invalid_request', `${CACHE_HEADER} must be 'use' or 'off', not '${value.slice(0, 32)}'`, { param: CACHE_HEADER })
}

/** Whether the cache may answer (and store) this request. */
export function isEligible(endpoint: Endpoint, body: Record<string, unknown>, mode: CacheMode): boolean {
  if (mode === 'off' || !CACHED_ENDPOINTS.has(endpoint)) return false
  if (mode === 'use' || DETERMINISTIC.has(endpoint)) return true
  return body['temperature'] === 0 || (typeof body['seed'] === 'number' && Number.isInteger(body['seed']))
}
