/**
 * The response cache (SPEC.md "Response cache"): exact-match answers to deterministic
 * requests, optionally matched by meaning, scoped per API key.
 */
export {
  ResponseCache,
  DEFAULT_EMBED_TIMEOUT_MS,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ENTRY_BYTES,
  DEFAULT_SEMANTIC_ENTRIES,
  DEFAULT_TTL_MS,
  type ResponseCacheComponents,
} from './response-cache.ts'
export { CACHE_HEADER, CACHED_ENDPOINTS, isEligible, parseCacheMode, type CacheMode } from './eligibility.ts'
export { ANONYMOUS_SCOPE, SHARED_SCOPE, keyScope, type KeyHeaders } from './scope.ts'
export { cacheKey, canonicalJson, IGNORED_FIELDS, type KeyParts } from './canonical.ts'
export { checkAnswer, type AnswerCheck, type CachedUsage } from './answer.ts'
export { semanticPrompt, MAX_SEMANTIC_TEXT, type SemanticPrompt } from './prompt.ts'
export type * from './types.ts'
export { responseCacheInit } from './config-init.ts'
