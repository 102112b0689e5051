/**
 * `/herd/tenants/1.0.0`: what nodes tell each other about keys and their use. JSON messages,
 * length-prefixed, on one long-lived stream per peer and direction (each node writes its
 * own). Every message is parsed by `tenantMessageSchema`, with the caps named here; one
 * that fails is dropped (and logged once per peer), the stream read on.
 *
 * - `digest`: the versions this node holds for ids in [from, to) (to null: to the end),
 *   sorted; sent in chunks at the start of every stream and when summaries differ. The
 *   receiver answers with `records` for what it holds newer or the range lacks.
 * - `records`: key records (never secrets), merged by merge.ts; a record that changed
 *   anything is passed on to the other peers.
 * - `counters`: this node's per-key counts (changed ones, soon after each change; all of
 *   them at the start of a stream and every few heartbeats).
 * - `summary`: a hash of all versions held, every few heartbeats; a mismatch asks for a digest.
 */
import { z } from 'zod'
import { MAX_NODE_ID, keyRecordSchema } from './record.ts'
import { RATE_BUCKETS } from './windows.ts'

export const TENANTS_PROTOCOL = '/herd/tenants/1.0.0'

/** Largest message (a frame over it ends that stream). */
export const MAX_TENANT_MESSAGE_BYTES = 1024 * 1024
/** Key records per `records` message (a record is at most ~20 KB at its caps). */
export const MAX_RECORDS_PER_MESSAGE = 32
/** Entries per `digest` message. */
export const MAX_DIGEST_ENTRIES = 4096
/** Keys per `counters` message. */
export const MAX_COUNTER_KEYS_PER_MESSAGE = 1024
/** Messages read per second from one stream, after a burst of this many × 10 (a catch-up). */
export const MAX_TENANT_MESSAGES_PER_SECOND = 200

const id = z.string().regex(/^key_[0-9a-f]{24}$/)
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

const digest = z.strictObject({
  t: z.literal('digest'),
  from: z.string().max(64),
  to: z.string().max(64).nullable(),
  e: z.array(z.tuple([id, count, z.union([z.literal(0), z.literal(1)]), z.string().min(1).max(MAX_NODE_ID)])).max(MAX_DIGEST_ENTRIES),
})

const records = z.strictObject({
  t: z.literal('records'),
  r: z.array(keyRecordSchema).max(MAX_RECORDS_PER_MESSAGE),
})

const window = z.tuple([count, count, count, count])
const counters = z.strictObject({
  t: z.literal('counters'),
  /** The sender's bucket length (ms): counts from a node with another rate window are not comparable. */
  w: z.number().positive().finite(),
  c: z
    .array(
      z.strictObject({
        k: id,
        b: z.array(z.tuple([count, count, count])).max(RATE_BUCKETS + 2),
        d: window.optional(),
        m: window.optional(),
      }),
    )
    .max(MAX_COUNTER_KEYS_PER_MESSAGE),
})

const summary = z.strictObject({ t: z.literal('summary'), n: count, h: z.string().regex(/^[0-9a-f]{64}$/) })

export const tenantMessageSchema = z.discriminatedUnion('t', [digest, records, counters, summary])

export type TenantMessage = z.infer<typeof tenantMessageSchema>

/** The message in `bytes`, or an Error saying what is wrong with it. */
export function parseTenantMessage(bytes: Uint8Array): TenantMessage | Error {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch {
    return new Error('message is not JSON')
  }
  const parsed = tenantMessageSchema.safeParse(value)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  return new Error(`malformed message: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim())
}

/** `items` in chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
