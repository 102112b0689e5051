/**
 * The JSON payloads of the forward protocol's head and end frames, validated on receipt,
 * with the caps that bound what a peer can make this node hold.
 */
import { z } from 'zod'
import type { WaitState } from '../router/types.ts'
import { FrameError, parseJsonPayload, type Frame } from './frame.ts'

/** A request or response head frame larger than this is refused before it is buffered. */
export const MAX_HEAD_BYTES = 64 * 1024
/** Headers per head; names and values beyond these lengths fail the schema. */
export const MAX_HEAD_HEADERS = 64
export const MAX_HEADER_NAME_LENGTH = 256
export const MAX_HEADER_VALUE_LENGTH = 8 * 1024
/** An end frame's error message is cut to this many characters. */
export const MAX_END_MESSAGE_LENGTH = 4096

const headers = z
  .record(z.string().max(MAX_HEADER_NAME_LENGTH), z.string().max(MAX_HEADER_VALUE_LENGTH))
  .refine((h) => Object.keys(h).length <= MAX_HEAD_HEADERS, { message: `more than ${MAX_HEAD_HEADERS} headers` })

/**
 * The request head. A forwarded request has made at least one hop: hops 0 would make the
 * serving node route it on, a relay for whoever holds the secret. The body length is
 * checked against the serving node's own HTTP body limit where the head is read, so the
 * refusal can be answered (`body_too_large`).
 */
export const requestHeadSchema = z.object({
  requestId: z.string().min(1).max(128),
  method: z.string().min(1).max(16),
  path: z.string().startsWith('/').max(2048),
  headers,
  hops: z.number().int().min(1).max(64),
  bodyLength: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
})
export type RequestHead = z.infer<typeof requestHeadSchema>

export const responseHeadSchema = z.object({
  // No 1xx: a final answer only (herd relays its status as is).
  status: z.number().int().min(200).max(599),
  headers,
  servedBy: z.string().max(256),
})
export type ResponseHead = z.infer<typeof responseHeadSchema>

/** `ok: false` before a response head means the request failed there; after it, the body broke off. */
export const endSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), message: z.string().transform((m) => m.slice(0, MAX_END_MESSAGE_LENGTH)), code: z.string().max(64).optional() }),
])
export type EndMessage = z.infer<typeof endSchema>

/**
 * A keep-alive frame before the response head may carry what the request waits on (a cold
 * start, a queue), so the client's node can tell its streaming client. Only the kind and a
 * count travel: the client's node names the model and the node from its own view, so a
 * peer's text never reaches a client. A status over the cap, or one that fails the schema,
 * is ignored (the frame is still a keep-alive), as an older node ignores the payload.
 */
export const MAX_WAIT_STATE_BYTES = 256
export const MAX_QUEUE_AHEAD = 1_000_000

const waitStateSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('waiting') }),
  z.object({ kind: z.literal('loading') }),
  z.object({ kind: z.literal('queued'), ahead: z.number().int().min(0).max(MAX_QUEUE_AHEAD) }),
])

export function encodeWaitState(state: WaitState): Uint8Array {
  const wire: WaitState =
    state.kind === 'queued' ? { kind: 'queued', ahead: Math.min(MAX_QUEUE_AHEAD, Math.max(0, Math.floor(state.ahead))) } : { kind: state.kind }
  return Buffer.from(JSON.stringify(wire), 'utf8')
}

/** The status a keep-alive carries, or undefined (none, too large, not one). */
export function parseWaitState(payload: Uint8Array): WaitState | undefined {
  if (payload.byteLength === 0 || payload.byteLength > MAX_WAIT_STATE_BYTES) return undefined
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'))
  } catch {
    return undefined
  }
  const result = waitStateSchema.safeParse(value)
  return result.success ? result.data : undefined
}

/**
 * A frame's JSON payload, validated by `schema`. `quick`: a hand-written check of the common
 * case (head-check.ts) that the schema stands behind: what it returns is taken as is, and
 * undefined from it leaves the decision, and the wording of a refusal, to the schema.
 */
export function parseFrame<T>(frame: Frame, schema: z.ZodType<T>, quick?: (value: unknown) => T | undefined): T {
  const value = parseJsonPayload(frame)
  const checked = quick?.(value)
  if (checked !== undefined) return checked
  const result = schema.safeParse(value)
  if (!result.success)
    throw new FrameError(
      `malformed frame of type ${frame.type}: ${result.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.') || '(root)'} ${i.message}`)
        .join('; ')}`,
      'schema',
    )
  return result.data
}
