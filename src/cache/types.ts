/** What the response cache takes, answers and reports. */
import type { Endpoint, UpstreamResponse } from '../router/types.ts'
import type { CachedUsage } from './answer.ts'
import type { CacheMode } from './eligibility.ts'

/** Turns a text into an embedding with a model the mesh serves (the daemon routes it as a `/v1/embeddings` request). */
export type Embedder = (model: string, text: string, options: { signal: AbortSignal }) => Promise<number[]>

export interface SemanticInit {
  /** The embedding model (any id a client could send) the prompts are embedded with. */
  embeddingModel: string
  /** Reuse an answer whose prompt's cosine similarity is at least this. */
  threshold: number
  /** Rows the linear scan covers at most. @default 1000 */
  maxEntries?: number
  /** An embedding that takes longer is given up on; the request is a miss. @default 2000 */
  timeoutMs?: number
}

export interface ResponseCacheInit {
  /** @default 64 MiB */
  maxBytes?: number
  /** The largest answer stored (bigger ones pass through uncached). @default 1 MiB */
  maxEntryBytes?: number
  /** @default 1 hour */
  ttlMs?: number
  /** One scope for every key instead of one per key. @default false */
  shared?: boolean
  /** Opt-in semantic matching; needs `embed` among the components. */
  semantic?: SemanticInit
  /** Clock for TTLs (ms, monotonic, above 0: lru-cache reads a start time of 0 as "no TTL"). @default performance.now */
  now?: () => number
}

/** One request, as the cache sees it. */
export interface CacheQuery {
  endpoint: Endpoint
  /** The resolved `model:profile` first, then the alternatives that may answer it. */
  models: readonly string[]
  /** The client's raw JSON body (already checked to be an object). */
  body: Buffer
  stream: boolean
  mode: CacheMode
  /** The presented key's scope (scope.ts), used unless the cache is shared. */
  keyScope: string
  requestId: string
  signal: AbortSignal
}

/** A stored answer, as the upstream sent it. */
export interface CacheEntry {
  endpoint: Endpoint
  status: number
  headers: Readonly<Record<string, string>>
  body: Buffer
  /** The `model:profile` that gave it. */
  model: string
  usage: CachedUsage | undefined
}

export type CacheTicket =
  /** Not for the cache (not deterministic, `x-herd-cache: off`, an endpoint it does not keep). */
  | { state: 'bypass' }
  | {
      state: 'hit'
      kind: 'exact' | 'semantic'
      entry: CacheEntry
      /** The cached answer as a fresh response (`servedBy`: this node). */
      replay(servedBy: string): UpstreamResponse
      embedMs?: number
    }
  | {
      state: 'miss'
      /** The router's answer, passed on as it streams and stored if it ends whole. */
      record(res: UpstreamResponse): UpstreamResponse
      embedMs?: number
    }

/**
 * A request answered from the cache: for the usage ledger (a hit costs nothing, its tokens
 * are those of the cached answer) and for metrics.
 */
export interface CacheHit {
  endpoint: Endpoint
  kind: 'exact' | 'semantic'
  /** The `model:profile` the request resolved to. */
  model: string
  /** The `model:profile` whose answer was replayed. */
  answeredBy: string
  /** The presented key's scope (SHA-256 hex of the key, as tenant keys are indexed), even when the cache is shared. */
  keyScope: string
  requestId: string
  usage: CachedUsage | undefined
  /** Cosine similarity of the prompts, on a semantic hit. */
  similarity?: number
}

export interface CacheMiss {
  endpoint: Endpoint
  model: string
  keyScope: string
  requestId: string
}

export interface CacheStored {
  endpoint: Endpoint
  model: string
  bytes: number
  semantic: boolean
}

export interface ResponseCacheEvents {
  'cache:hit': [CacheHit]
  'cache:miss': [CacheMiss]
  'cache:stored': [CacheStored]
}
