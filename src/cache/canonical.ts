/**
 * The exact-match key: a SHA-256 over the scope, the endpoint, the models that may answer,
 * whether the client streams, and the request body in canonical form (keys sorted at every
 * depth, `model` replaced by the resolved models, fields that cannot change the answer
 * left out). Two requests that differ only in key order, in `user`, or in naming a model
 * by an alias share one entry; anything else that differs makes another entry.
 */
import { createHash } from 'node:crypto'
import type { Endpoint } from '../router/types.ts'

/** Bumped when what a key covers changes, so old entries can never answer. */
const KEY_VERSION = 1

/**
 * Body fields left out of the key: who asks (`user`, OpenAI's `safety_identifier`,
 * `metadata`: Anthropic's `user_id`, OpenAI's stored-completion tags) and provider-side
 * prompt-cache hints. `model` is left out for the resolved models, `stream` goes in on
 * its own.
 */
export const IGNORED_FIELDS: ReadonlySet<string> = new Set(['model', 'stream', 'user', 'safety_identifier', 'metadata', 'prompt_cache_key'])

/** What a key is made of. */
export interface KeyParts {
  scope: string
  endpoint: Endpoint
  /** The resolved `model:profile` first, then the alternatives that may answer in its place. */
  models: readonly string[]
  stream: boolean
  body: Record<string, unknown>
}

export function cacheKey(parts: KeyParts): string {
  return digest([KEY_VERSION, parts.scope, parts.endpoint, parts.models, parts.stream, keyBody(parts.body, parts.stream)])
}

/**
 * The body as it enters the key. `stream_options` changes a stream's bytes (a usage chunk
 * or not), so it counts for a streamed request and not for another.
 */
export function keyBody(body: Record<string, unknown>, stream: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(body)) {
    if (IGNORED_FIELDS.has(k) || (k === 'stream_options' && !stream)) continue
    out[k] = v
  }
  return out
}

/** SHA-256 hex of a value's canonical JSON. */
export function digest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

/** JSON with object keys sorted at every depth; arrays keep their order; `undefined` members are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v
    const sorted: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k]
    return sorted
  })
}
