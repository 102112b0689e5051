/**
 * Usage from OpenAI-protocol streams: a metered streaming chat or completions request asks
 * its upstream for the final usage chunk (`stream_options.include_usage: true`: llama-server,
 * OpenAI-protocol backends, and the Anthropic conversion all honour it), and when the client
 * did not ask for it that chunk is taken out of the answer again. Only that whole SSE event
 * is dropped (a `data:` chunk with `"choices": []` and a `usage`); every other byte passes
 * as it came.
 */
import { parsedBodyOf, type Endpoint, type RouteRequest, type UpstreamResponse } from '../router/types.ts'
import type { ChunkFilter } from './usage-tap.ts'

const USAGE_ENDPOINTS: ReadonlySet<Endpoint> = new Set(['chat', 'completions'])
/** Nothing held (shared: never written to, only compared by length). */
const EMPTY = Buffer.alloc(0)
/** What a usage chunk says, as bytes once (a string needle is encoded on every indexOf). */
const USAGE = Buffer.from('"usage"')
/** An SSE event this long without its end is passed on as it is (no usage chunk is that big). */
const MAX_HELD_BYTES = 64 * 1024

/** The request, asking for usage at the end of its stream; `strip` when the client did not ask (the chunk is then removed). */
export function askForUsage(route: RouteRequest): { route: RouteRequest; strip: boolean } {
  if (!route.stream || !USAGE_ENDPOINTS.has(route.endpoint) || route.hops > 0) return { route, strip: false }
  // The object the api validated the body into, when this is still that body: not parsed a second time.
  let body = parsedBodyOf(route)
  if (body === undefined) {
    try {
      const parsed: unknown = JSON.parse(route.body.toString('utf8'))
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { route, strip: false }
      body = parsed as Record<string, unknown>
    } catch {
      return { route, strip: false }
    }
  }
  const options = body['stream_options']
  if (typeof options === 'object' && options !== null && (options as Record<string, unknown>)['include_usage'] === true) return { route, strip: false }
  // No stream_options at all (the usual case): the member goes in front of the client's own bytes, which stay as they came (no re-serialization).
  const spliced = options === undefined ? withIncludeUsage(route.body, body) : undefined
  if (spliced !== undefined) return { route: { ...route, body: spliced }, strip: true }
  const stream_options = { ...(typeof options === 'object' && options !== null ? options : {}), include_usage: true }
  return { route: { ...route, body: Buffer.from(JSON.stringify({ ...body, stream_options })) }, strip: true }
}

const INCLUDE_USAGE = Buffer.from('"stream_options":{"include_usage":true}')
const COMMA = Buffer.from(',')

/** `raw` (a JSON object without `stream_options`, parsed as `parsed`) with that member first; undefined when it does not open as an object. */
function withIncludeUsage(raw: Buffer, parsed: Record<string, unknown>): Buffer | undefined {
  let i = 0
  // JSON's whitespace before the value.
  while (i < raw.length && (raw[i] === 0x20 || raw[i] === 0x09 || raw[i] === 0x0a || raw[i] === 0x0d)) i++
  if (raw[i] !== 0x7b) return undefined
  let empty = true
  for (const _ in parsed) {
    empty = false
    break
  }
  const open = raw.subarray(0, i + 1)
  const rest = raw.subarray(i + 1)
  return Buffer.concat(empty ? [open, INCLUDE_USAGE, rest] : [open, INCLUDE_USAGE, COMMA, rest])
}

const EMPTY_CHOICES = /"choices"\s*:\s*\[\s*\]/
const HAS_USAGE = /"usage"\s*:\s*\{/

/** Whether one SSE event is the usage-only chunk include_usage adds. */
export function isUsageChunk(event: string): boolean {
  return event.startsWith('data:') && EMPTY_CHOICES.test(event) && HAS_USAGE.test(event)
}

/** A ChunkFilter (for the usage tap) that drops the usage-only SSE event and passes every other byte. */
export function usageChunkFilter(): ChunkFilter {
  let held: Buffer = EMPTY
  return {
    push(chunk) {
      held = held.length === 0 ? chunk : Buffer.concat([held, chunk])
      // Fast path: whole events that never say "usage" hold no usage chunk; they pass as one piece.
      const whole = lastEventEnd(held)
      // The common case, a chunk of whole events (llama-server writes one per token): passed as it came, no views made.
      if (whole === held.length && held.indexOf(USAGE) < 0) {
        const pass = held
        held = EMPTY
        return pass
      }
      if (whole > 0 && held.subarray(0, whole).indexOf(USAGE) < 0) {
        const pass = held.subarray(0, whole)
        held = held.subarray(whole)
        return pass
      }
      const out: Buffer[] = []
      for (;;) {
        const end = eventEnd(held)
        if (end < 0) break
        const event = held.subarray(0, end)
        held = held.subarray(end)
        if (!isUsageChunk(event.toString('utf8'))) out.push(event)
      }
      if (held.length > MAX_HELD_BYTES) {
        out.push(held)
        held = EMPTY
      }
      return out.length === 0 ? undefined : out.length === 1 ? out[0] : Buffer.concat(out)
    },
    end() {
      const rest = held
      held = EMPTY
      return rest.length === 0 || isUsageChunk(rest.toString('utf8')) ? undefined : rest
    },
  }
}

const BLANK_LINE = Buffer.from('\n\n')

/** The end (exclusive) of the last whole event in `buf`, or -1. */
function lastEventEnd(buf: Buffer): number {
  const n = buf.length
  // A chunk that ends with its event (llama-server writes one per token): no scan.
  if (n >= 2 && buf[n - 1] === 0x0a && buf[n - 2] === 0x0a) return n
  const lf = buf.lastIndexOf(BLANK_LINE)
  return lf < 0 ? -1 : lf + 2
}

/** The end (exclusive, after the blank line) of the first whole event in `buf`, or -1. */
function eventEnd(buf: Buffer): number {
  const lf = buf.indexOf('\n\n')
  const crlf = buf.indexOf('\r\n\r\n')
  if (lf < 0 && crlf < 0) return -1
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4
  return lf + 2
}

/** Whether the usage chunk should be taken out of this answer (SSE answers only; others, and error answers, are left as they are). */
export function strips(res: UpstreamResponse): boolean {
  return res.status < 400 && (res.headers['content-type'] ?? '').includes('text/event-stream')
}
