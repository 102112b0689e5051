/**
 * The request and response heads of the forward protocol checked by hand, for the common
 * case: every forwarded request pays for its heads on both nodes, and zod's generic walk
 * of the headers record cost ~5 µs per head where these take well under one.
 *
 * The schemas in forward-messages.ts stay the reference. These accept a subset of what
 * they accept and return what they would return (unknown keys dropped, the same fields);
 * anything else (a wrong type, a bound crossed, an odd key) gives undefined, and the
 * schema then decides and words the refusal. test/mesh/head-check.test.ts holds them to it.
 */
import { MAX_HEAD_HEADERS, MAX_HEADER_NAME_LENGTH, MAX_HEADER_VALUE_LENGTH, type RequestHead, type ResponseHead } from './forward-messages.ts'

export function quickRequestHead(v: unknown): RequestHead | undefined {
  if (!isPlainObject(v)) return undefined
  const { requestId, method, path, hops, bodyLength } = v
  if (typeof requestId !== 'string' || requestId.length < 1 || requestId.length > 128) return undefined
  if (typeof method !== 'string' || method.length < 1 || method.length > 16) return undefined
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > 2048) return undefined
  if (!isInt(hops) || hops < 1 || hops > 64) return undefined
  if (!isInt(bodyLength) || bodyLength < 0) return undefined
  const headers = quickHeaders(v['headers'])
  if (headers === undefined) return undefined
  return { requestId, method, path, headers, hops, bodyLength }
}

export function quickResponseHead(v: unknown): ResponseHead | undefined {
  if (!isPlainObject(v)) return undefined
  const { status, servedBy } = v
  if (!isInt(status) || status < 200 || status > 599) return undefined
  if (typeof servedBy !== 'string' || servedBy.length > 256) return undefined
  const headers = quickHeaders(v['headers'])
  if (headers === undefined) return undefined
  return { status, headers, servedBy }
}

/** Own string keys and string values within the caps, copied (as the schema's record does). */
function quickHeaders(v: unknown): Record<string, string> | undefined {
  if (!isPlainObject(v)) return undefined
  const out: Record<string, string> = {}
  let count = 0
  for (const name in v) {
    // Inherited or prototype-bending keys are the schema's to judge.
    if (!Object.hasOwn(v, name) || name === '__proto__') return undefined
    const value = v[name]
    if (typeof value !== 'string' || name.length > MAX_HEADER_NAME_LENGTH || value.length > MAX_HEADER_VALUE_LENGTH) return undefined
    if (++count > MAX_HEAD_HEADERS) return undefined
    out[name] = value
  }
  return out
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v)
}
