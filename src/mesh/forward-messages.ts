/** The JSON payloads of the forward protocol's head and end frames, validated on receipt. */
import { z } from 'zod'
import { MAX_BODY_BYTES } from './constants.ts'
import { FrameError, parseJsonPayload, type Frame } from './frame.ts'

const headers = z.record(z.string(), z.string())

export const requestHeadSchema = z.object({
  requestId: z.string(),
  method: z.string().min(1),
  path: z.string().startsWith('/'),
  headers,
  hops: z.number().int().nonnegative(),
  bodyLength: z.number().int().nonnegative().max(MAX_BODY_BYTES),
})
export type RequestHead = z.infer<typeof requestHeadSchema>

export const responseHeadSchema = z.object({
  status: z.number().int().min(100).max(599),
  headers,
  servedBy: z.string(),
})
export type ResponseHead = z.infer<typeof responseHeadSchema>

/** `ok: false` before a response head means the request failed there; after it, the body broke off. */
export const endSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), message: z.string(), code: z.string().optional() }),
])
export type EndMessage = z.infer<typeof endSchema>

export function parseFrame<T>(frame: Frame, schema: z.ZodType<T>): T {
  const result = schema.safeParse(parseJsonPayload(frame))
  if (!result.success) throw new FrameError(`malformed frame of type ${frame.type}: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`)
  return result.data
}
