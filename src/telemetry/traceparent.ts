/**
 * W3C Trace Context headers (`traceparent`, `tracestate`), read from a client or a peer and
 * written for the next hop. Both come from outside: a value that is too long, malformed,
 * or names the all-zero ids is ignored (the request starts a trace of its own), never an error.
 */

/** A `traceparent` is 55 characters in version 00; later versions may append fields, bounded here. */
export const MAX_TRACEPARENT_LENGTH = 256
/** The spec asks that at least 512 characters of `tracestate` be passed on; more is dropped whole. */
export const MAX_TRACESTATE_LENGTH = 512
/** The spec's own limit on `tracestate` list members. */
export const MAX_TRACESTATE_MEMBERS = 32

/** A parent named by a `traceparent` (ids as lowercase hex). */
export interface RemoteParent {
  traceId: string
  spanId: string
  /** Bit 0: the caller sampled it. */
  flags: number
  /** The `tracestate` as received, when valid. */
  traceState?: string
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)
/** A list member: `key=value`, key per the spec (simple or `tenant@system`), value printable ASCII without `,` and `=`. */
const MEMBER = /^[a-z0-9][_0-9a-z\-*/]{0,255}(@[a-z0-9][_0-9a-z\-*/]{0,13})?=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/

/** The parent a `traceparent` header names, or undefined when there is none or it is not valid. */
export function parseTraceparent(value: unknown, state?: unknown): RemoteParent | undefined {
  if (typeof value !== 'string' || value.length > MAX_TRACEPARENT_LENGTH) return undefined
  const m = TRACEPARENT.exec(value.trim())
  if (m === null) return undefined
  const [, version, traceId = '', spanId = '', flags = ''] = m
  // Version ff is forbidden; version 00 has exactly four fields (later versions may add some).
  if (version === 'ff' || (version === '00' && m[5] !== undefined)) return undefined
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined
  const traceState = parseTracestate(state)
  return { traceId, spanId, flags: parseInt(flags, 16), ...(traceState === undefined ? {} : { traceState }) }
}

/** A `tracestate` header's value when every member is well formed and it is within the bounds, else undefined (dropped whole, as the spec allows). */
export function parseTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TRACESTATE_LENGTH) return undefined
  const members = value.split(',').map((m) => m.trim())
  if (members.length > MAX_TRACESTATE_MEMBERS) return undefined
  const kept = members.filter((m) => m !== '')
  if (kept.length === 0 || !kept.every((m) => MEMBER.test(m))) return undefined
  return kept.join(',')
}

/** The `traceparent` value (version 00) for a span. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`
}

/** A header's single value: a repeated header is ambiguous, so it counts as absent. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined
}
