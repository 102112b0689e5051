/** The `cache` section of the node config as ResponseCache takes it. */
import type { Config } from '../config/index.ts'
import type { ResponseCacheInit } from './types.ts'

export function responseCacheInit(c: Config['cache']): ResponseCacheInit {
  return {
    maxBytes: c.max_bytes,
    maxEntryBytes: c.max_entry_bytes,
    ttlMs: c.ttl_seconds * 1000,
    shared: c.shared,
    ...(c.semantic === null
      ? {}
      : {
          semantic: {
            embeddingModel: c.semantic.embedding_model,
            threshold: c.semantic.threshold,
            maxEntries: c.semantic.max_entries,
            timeoutMs: c.semantic.timeout_ms,
          },
        }),
  }
}
