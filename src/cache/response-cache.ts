/**
 * The response cache: answers to deterministic requests (eligibility.ts), kept as the
 * upstream sent them (the JSON, or the SSE bytes) and replayed in the same form, so a
 * streaming client gets a stream and any other client a body. Entries are keyed by scope,
 * endpoint, models, stream and the canonical body (canonical.ts), bounded by bytes with
 * the least recently used going first, and expire after a TTL. Opt-in, a semantic index
 * (semantic-index.ts) finds an answer to a request that differs only in the wording of its
 * last user turn.
 */
import { EventEmitter } from 'node:events'
import { Readable } from 'node:stream'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { UpstreamResponse } from '../router/types.ts'
import { checkAnswer } from './answer.ts'
import { cacheKey, digest, keyBody, type KeyParts } from './canonical.ts'
import { isEligible } from './eligibility.ts'
import { semanticPrompt } from './prompt.ts'
import { recordBody, recordingBudget, type RecordingBudget } from './recorder.ts'
import { SHARED_SCOPE } from './scope.ts'
import { SemanticIndex } from './semantic-index.ts'
import type { CacheEntry, CacheQuery, CacheTicket, Embedder, ResponseCacheEvents, ResponseCacheInit, SemanticInit } from './types.ts'

export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_ENTRY_BYTES = 1024 * 1024
export const DEFAULT_TTL_MS = 3_600_000
export const DEFAULT_SEMANTIC_ENTRIES = 1000
export const DEFAULT_EMBED_TIMEOUT_MS = 2000
/** What an entry costs beyond its body (key, headers, bookkeeping), for the byte bound. */
const ENTRY_OVERHEAD_BYTES = 512
/** Response headers kept with an entry; framing is the relay's to set. */
const KEPT_HEADERS = ['content-type', 'x-herd-model'] as const

export interface ResponseCacheComponents {
  logger?: Logger
  /** Needed by the semantic cache. */
  embed?: Embedder
}

const BYPASS: CacheTicket = { state: 'bypass' }

export class ResponseCache extends EventEmitter<ResponseCacheEvents> {
  private readonly entries: LRUCache<string, CacheEntry>
  private readonly index: SemanticIndex | undefined
  private readonly semantic: Required<SemanticInit> | undefined
  private readonly embed: Embedder | undefined
  private readonly logger: Logger | undefined
  private readonly maxEntryBytes: number
  /** Copies of answers still streaming hold at most the cache's own size together. */
  private readonly recording: RecordingBudget & { readonly used: number }
  private readonly shared: boolean
  private readonly now: () => number
  /** Set while embeddings fail, so a broken embedding model is one warning, not one a request. */
  private embedFailing = false

  constructor(components: ResponseCacheComponents = {}, init: ResponseCacheInit = {}) {
    super()
    const maxBytes = init.maxBytes ?? DEFAULT_MAX_BYTES
    const ttlMs = init.ttlMs ?? DEFAULT_TTL_MS
    this.now = init.now ?? (() => performance.now())
    this.maxEntryBytes = Math.min(init.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES, maxBytes)
    this.shared = init.shared ?? false
    this.recording = recordingBudget(maxBytes)
    this.logger = components.logger
    this.embed = components.embed
    this.entries = new LRUCache<string, CacheEntry>({
      maxSize: maxBytes,
      maxEntrySize: maxBytes,
      sizeCalculation: entrySize,
      ttl: ttlMs,
      // Exact expiry against the clock given (the default caches now() for 1 ms).
      ttlResolution: 0,
      perf: { now: this.now },
      // An entry that goes (evicted, expired, replaced) takes its semantic row along.
      dispose: (_entry, key) => this.index?.delete(key),
    })
    if (init.semantic !== undefined && components.embed !== undefined) {
      this.semantic = { maxEntries: DEFAULT_SEMANTIC_ENTRIES, timeoutMs: DEFAULT_EMBED_TIMEOUT_MS, ...init.semantic }
      this.index = new SemanticIndex({ maxEntries: this.semantic.maxEntries, ttlMs, now: this.now })
    }
  }

  /** Bytes held (bodies and overhead), the number of entries, and bytes of answers being recorded; for metrics. */
  stats(): { bytes: number; entries: number; semanticEntries: number; recordingBytes: number } {
    return { bytes: this.entries.calculatedSize, entries: this.entries.size, semanticEntries: this.index?.size ?? 0, recordingBytes: this.recording.used }
  }

  /** Forget everything (the cookbook changed: a model's answers may have too). */
  clear(): void {
    this.entries.clear()
    this.index?.clear()
  }

  /** Look a request up: a hit to replay, a miss to record, or a bypass. Never throws; a failed embedding is a miss. */
  async lookup(q: CacheQuery): Promise<CacheTicket> {
    const body = parseObject(q.body)
    if (body === undefined || !isEligible(q.endpoint, body, q.mode)) return BYPASS
    const model = q.models[0] ?? ''
    const parts: KeyParts = { scope: this.shared ? SHARED_SCOPE : q.keyScope, endpoint: q.endpoint, models: q.models, stream: q.stream, body }
    const key = cacheKey(parts)
    const exact = this.entries.get(key)
    if (exact !== undefined) return this.hit(q, exact, 'exact')
    const found = this.index === undefined ? undefined : await this.nearest(q, parts)
    if (found?.hit !== undefined) return this.hit(q, found.hit.entry, 'semantic', found.embedMs, found.hit.similarity)
    this.emit('cache:miss', { endpoint: q.endpoint, model, keyScope: q.keyScope, requestId: q.requestId })
    const row = found?.row
    return {
      state: 'miss',
      record: (res) => this.record(key, q, res, row),
      ...(found === undefined ? {} : { embedMs: found.embedMs }),
    }
  }

  private hit(q: CacheQuery, entry: CacheEntry, kind: 'exact' | 'semantic', embedMs?: number, similarity?: number): CacheTicket {
    this.emit('cache:hit', {
      endpoint: q.endpoint,
      kind,
      model: q.models[0] ?? '',
      answeredBy: entry.model,
      keyScope: q.keyScope,
      requestId: q.requestId,
      usage: entry.usage,
      ...(similarity === undefined ? {} : { similarity }),
    })
    return { state: 'hit', kind, entry, replay: (servedBy) => replay(entry, servedBy), ...(embedMs === undefined ? {} : { embedMs }) }
  }

  /** The semantic lookup: embed the last user text, scan rows of the same context. */
  private async nearest(
    q: CacheQuery,
    parts: KeyParts,
  ): Promise<{ embedMs: number; hit?: { entry: CacheEntry; similarity: number }; row?: { context: string; vector: number[] } } | undefined> {
    const semantic = this.semantic
    const prompt = semanticPrompt(q.endpoint, parts.body)
    if (semantic === undefined || this.embed === undefined || this.index === undefined || prompt === undefined) return undefined
    const context = digest([parts.scope, parts.endpoint, parts.models, parts.stream, keyBody(prompt.rest, parts.stream)])
    const started = this.now()
    let vector: number[]
    try {
      vector = await this.embed(semantic.embeddingModel, prompt.text, { signal: AbortSignal.any([q.signal, AbortSignal.timeout(semantic.timeoutMs)]) })
      this.embedFailing = false
    } catch (err: unknown) {
      if (!q.signal.aborted && !this.embedFailing) {
        this.embedFailing = true
        this.logger?.warn(
          { err: err instanceof Error ? err.message : String(err), model: semantic.embeddingModel },
          'semantic cache: embedding failed; requests go uncached by meaning until it works',
        )
      }
      return { embedMs: this.now() - started }
    }
    const embedMs = this.now() - started
    const near = this.index.nearest(context, vector, semantic.threshold, (k) => this.entries.has(k))
    const entry = near === undefined ? undefined : this.entries.get(near.key)
    if (near !== undefined && entry !== undefined) return { embedMs, hit: { entry, similarity: near.similarity } }
    return { embedMs, row: { context, vector } }
  }

  private record(key: string, q: CacheQuery, res: UpstreamResponse, row: { context: string; vector: number[] } | undefined): UpstreamResponse {
    if (res.status < 200 || res.status >= 300) return res
    const headers: Record<string, string> = {}
    for (const name of KEPT_HEADERS) if (res.headers[name] !== undefined) headers[name] = res.headers[name]
    const sse = (headers['content-type'] ?? '').includes('text/event-stream')
    const body = recordBody(res.body, this.maxEntryBytes, this.recording, (bytes) => {
      const check = checkAnswer(q.endpoint, bytes, sse)
      if (!check.complete) return
      const model = headers['x-herd-model'] ?? q.models[0] ?? ''
      this.entries.set(key, { endpoint: q.endpoint, status: res.status, headers, body: bytes, model, usage: check.usage })
      // lru-cache refuses (silently) an entry larger than the whole cache.
      if (!this.entries.has(key)) return
      if (row !== undefined) this.index?.add(key, row.context, row.vector)
      this.emit('cache:stored', { endpoint: q.endpoint, model, bytes: bytes.length, semantic: row !== undefined })
    })
    return { ...res, body }
  }
}

function replay(entry: CacheEntry, servedBy: string): UpstreamResponse {
  return {
    status: entry.status,
    headers: { ...entry.headers, 'x-herd-cache': 'hit' },
    body: Readable.from([entry.body]),
    servedBy,
    guarded: true,
  }
}

function entrySize(entry: CacheEntry): number {
  let size = entry.body.length + ENTRY_OVERHEAD_BYTES
  for (const [k, v] of Object.entries(entry.headers)) size += k.length + v.length
  return size
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
